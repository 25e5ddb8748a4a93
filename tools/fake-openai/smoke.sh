#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Smoke test of the fake OpenAI upstream: starts the binary on a free port and checks every
# documented behaviour with curl (and jq).  Exits non-zero on any mismatch.
# Usage: tools/fake-openai/smoke.sh /path/to/fake-openai
set -u

BIN=${1:?usage: smoke.sh /path/to/fake-openai}
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "smoke.sh: needs $tool" >&2; exit 2; }
done

TMP=$(mktemp -d)
PID=
PASS=0
FAIL=0

cleanup()
{
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- helpers ----

pass() { PASS=$((PASS + 1)); }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }

# expect NAME GOT WANT
expect()
{
    if [ "$2" == "$3" ]; then pass; else fail "$1: got [$2], want [$3]"; fi
}

# expect_range NAME VALUE LOW HIGH   (numbers, floats allowed)
expect_range()
{
    if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v >= lo && v <= hi) }'; then
        pass
    else
        fail "$1: got $2, want within [$3, $4]"
    fi
}

start_fake()
{
    "$BIN" --port 0 --port-file "$TMP/port" >"$TMP/stdout" 2>"$TMP/stderr" &
    PID=$!
    for _ in $(seq 50); do
        [ -s "$TMP/port" ] && [ -s "$TMP/stdout" ] && break
        sleep 0.1
    done
    PORT=$(cat "$TMP/port" 2>/dev/null)
    if [ -z "$PORT" ]; then
        echo "smoke.sh: fake-openai did not start" >&2
        cat "$TMP/stderr" >&2
        exit 1
    fi
    U="http://127.0.0.1:$PORT"
}

script() { curl -sS -o "$TMP/script.out" -w '%{http_code}' "$U/_fake/script" -d "$1"; }
reset() { curl -sS -o /dev/null -XPOST "$U/_fake/reset"; }
stat_of() { curl -sS "$U/_fake/stats" | jq -r ".$1"; }
requests() { curl -sS "$U/_fake/requests" | jq -r "$@"; }

# chat BODY [curl args...]: response body in $TMP/out, headers in $TMP/hdr, status in
# $CODE, curl exit code in $RC, seconds in $SECS.
chat()
{
    local body=$1
    shift
    local w
    : >"$TMP/out"
    w=$(curl -sS -N -o "$TMP/out" -D "$TMP/hdr" -w '%{http_code} %{time_total}' \
        "$@" -H 'Content-Type: application/json' "$U/v1/chat/completions" -d "$body" \
        2>"$TMP/curl.err")
    RC=$?
    CODE=${w% *}
    SECS=${w#* }
}

# api METHOD PATH BODY [curl args...]: like chat, for any endpoint (BODY "" sends none).
api()
{
    local method=$1 path=$2 body=$3 w
    shift 3
    local data=()
    [ -n "$body" ] && data=(-H 'Content-Type: application/json' -d "$body")
    : >"$TMP/out"
    w=$(curl -sS -N -o "$TMP/out" -D "$TMP/hdr" -w '%{http_code} %{time_total}' -X "$method" \
        "$@" "${data[@]}" "$U$path" 2>"$TMP/curl.err")
    RC=$?
    CODE=${w% *}
    SECS=${w#* }
}
resp() { api POST /v1/responses "$@"; }

out() { jq -r "$@" "$TMP/out"; }
header() { tr -d '\r' <"$TMP/hdr" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
    'tolower($1) == h { print substr($0, length($1) + 3) }' | tail -n 1; }
# The JSON events of an SSE response, one compact object per line.
events() { grep '^data: {' "$TMP/out" | sed 's/^data: //'; }
ndata() { grep -c '^data: ' "$TMP/out"; }
# jq over the first event, the last event, all events (slurped), the stats, the request log.
first_ev() { events | head -n 1 | jq -c "$1"; }
last_ev() { events | tail -n 1 | jq -c "$1"; }
all_ev() { events | jq -s -c "$1"; }
# Concatenated content deltas of choice 0, and their number.
stream_text() { events | jq -j '.choices[0].delta.content // empty'; }
# The event names of a Responses stream, comma-separated.
ev_names() { grep '^event: ' "$TMP/out" | sed 's/^event: //' | paste -sd, -; }
# The events of the default Responses stream of a 6-word text, all but the last.
RS_EVENTS="response.created,response.in_progress,response.output_item.added"
RS_EVENTS+=",response.content_part.added"
RS_EVENTS+=$(printf ',response.output_text.delta%.0s' 1 2 3 4 5 6)
RS_EVENTS+=",response.output_text.done,response.content_part.done,response.output_item.done"

M='"model":"gpt-4o-mini"'
B="{$M,\"messages\":[{\"role\":\"system\",\"content\":\"be nice\"},"
B+='{"role":"user","content":"hi there  friend"}]}'
MSG='"messages":[{"role":"user","content":"one two three"}]'
SB="{$M,\"stream\":true,$MSG}"
SBU="{$M,\"stream\":true,\"stream_options\":{\"include_usage\":true},$MSG}"
RB="{$M,\"input\":\"one two three\"}"
RSB="{$M,\"input\":\"one two three\",\"stream\":true}"

# ---- tests ----

t_startup()
{
    expect "stdout port line" "$(cat "$TMP/stdout")" "$PORT"
    expect "port file has no temp left" "$(ls "$TMP" | grep -c 'port.tmp')" "0"
}

t_default_completion()
{
    reset
    chat "$B"
    expect "default status" "$CODE" 200
    expect "default content-type" "$(header content-type)" "application/json"
    expect "x-request-id" "$(header x-request-id)" "req_fake_1"
    expect "openai-processing-ms" "$(header openai-processing-ms | grep -c '^[0-9][0-9]*$')" 1
    expect "id" "$(out .id)" "chatcmpl-fake-1"
    expect "object" "$(out .object)" "chat.completion"
    expect "created" "$(out '.created | type')" "number"
    expect "model" "$(out .model)" "gpt-4o-mini-2024-07-18"
    expect "fingerprint" "$(out .system_fingerprint)" "fp_fake"
    expect "content" "$(out '.choices[0].message.content')" "Hello! You said: hi there  friend"
    expect "role" "$(out '.choices[0].message.role')" "assistant"
    expect "refusal" "$(out '.choices[0].message.refusal')" "null"
    expect "logprobs" "$(out '.choices[0].logprobs')" "null"
    expect "finish" "$(out '.choices[0].finish_reason')" "stop"
    # P = (ceil(7/4)+4) + (ceil(16/4)+4) = 14; C = 6 words
    expect "usage" "$(out -c .usage)" '{"prompt_tokens":14,"completion_tokens":6,"total_tokens":20}'
    expect "one choice" "$(out '.choices | length')" 1
    curl -sS -o "$TMP/out" "$U/chat/completions" -d "$B"
    expect "/chat/completions alias" "$(out '.choices[0].finish_reason')" "stop"
}

t_limits()
{
    chat '{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"a b c"}]}'
    expect "max_tokens content" "$(out '.choices[0].message.content')" "Hello! You "
    expect "max_tokens finish" "$(out '.choices[0].finish_reason')" "length"
    expect "max_tokens usage" "$(out .usage.completion_tokens)" 2
    chat '{"model":"m","max_completion_tokens":3,"messages":[{"role":"user","content":"a b c"}]}'
    expect "max_completion_tokens" "$(out '.choices[0].message.content')" "Hello! You said: "
    chat '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}]}'
    expect "max_tokens not reached" "$(out '.choices[0].finish_reason')" "stop"
    chat '{"model":"m","n":3,"messages":[{"role":"user","content":"a b"}]}'
    expect "n choices" "$(out '[.choices[].index] | join(",")')" "0,1,2"
    expect "n usage" "$(out .usage.completion_tokens)" 15
    local long
    long=$(printf 'x%.0s' $(seq 300))
    chat "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}]}"
    expect "echo capped at 200 bytes" "$(out '.choices[0].message.content | length')" 217
    expect "prompt tokens of 300 bytes" "$(out .usage.prompt_tokens)" 79
}

t_bad_requests()
{
    chat '{not json'
    expect "invalid json status" "$CODE" 400
    expect "invalid json body" "$(out -c '.error | [.type, .param, .code]')" \
        '["invalid_request_error",null,null]'
    expect "invalid json message" "$(out '.error.message | type')" "string"
    chat '{"model":"m"}'
    expect "missing messages" "$(out .error.param)" "messages"
    curl -sS -o "$TMP/out" -w '%{http_code}' "$U/v1/nope" >"$TMP/code"
    expect "unknown path status" "$(cat "$TMP/code")" 404
    expect "unknown path body" "$(out .error.type)" "invalid_request_error"
    curl -sS -o "$TMP/out" -w '%{http_code}' "$U/v1/chat/completions" >"$TMP/code"
    expect "GET chat status" "$(cat "$TMP/code")" 405
    curl -sS -o "$TMP/out" -w '%{http_code}' "$U/_fake/nope" >"$TMP/code"
    expect "unknown control path" "$(cat "$TMP/code")" 404
}

t_stream()
{
    reset
    chat "$SB"
    expect "stream status" "$CODE" 200
    expect "stream content-type" "$(header content-type)" "text/event-stream"
    expect "stream request id" "$(header x-request-id)" "req_fake_1"
    expect "first chunk" "$(first_ev '.choices[0] | [.index, .delta, .logprobs, .finish_reason]')" \
        '[0,{"role":"assistant","content":""},null,null]'
    expect "chunk fields" \
        "$(first_ev '[.id, .object, .model, .system_fingerprint, (.created | type)]')" \
        '["chatcmpl-fake-1","chat.completion.chunk","gpt-4o-mini-2024-07-18","fp_fake","number"]'
    expect "deltas one per word" "$(all_ev 'map(.choices[0].delta.content // empty)')" \
        '["","Hello! ","You ","said: ","one ","two ","three"]'
    expect "finish chunk" "$(last_ev '.choices[0] | [.delta, .finish_reason]')" '[{},"stop"]'
    expect "no usage field without include_usage" "$(all_ev 'map(has("usage")) | any')" false
    expect "ends with DONE" "$(tail -n 2 "$TMP/out" | head -n 1)" "data: [DONE]"
    expect "events end with blank line" "$(awk 'prev ~ /^data: / && $0 != "" { bad++ }
        { prev = $0 } END { print bad + 0 }' "$TMP/out")" 0
    expect "file ends with \\n\\n" "$(tail -c 2 "$TMP/out" | od -An -c | tr -d ' ')" '\n\n'
    chat "$SBU"
    expect "usage null on content chunks" "$(all_ev '.[:-1] | map(.usage == null) | all')" true
    expect "usage chunk" "$(last_ev '[.choices, .usage]')" \
        '[[],{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14}]'
    chat '{"model":"m","stream":true,"n":2,"max_tokens":2,"stream_options":{"include_usage":true},
           "messages":[{"role":"user","content":"a b"}]}'
    expect "n=2 stream chunks" "$(all_ev 'map(.choices[0] // {} | .index)')" \
        '[0,1,0,1,0,1,0,1,null]'
    expect "n=2 stream finish" "$(all_ev 'map(.choices[0].finish_reason // empty)')" \
        '["length","length"]'
    expect "n=2 stream usage" "$(last_ev .usage.completion_tokens)" 4
}

t_status_scripts()
{
    reset
    expect "queue script" "$(script '[
        {"status":429,"headers":{"retry-after":"1","retry-after-ms":"1500"}},
        {"status":429,"error_code":"insufficient_quota"},{"status":500},{"status":503,"repeat":2},
        {"status":200,"body":{"hello":"world"}},
        {"status":502,"body_raw":"<html>bad gateway</html>","headers":{"content-type":"text/html"}},
        {"status":400,"error_message":"custom","error_type":"t","error_code":"c"}]')" 200
    expect "queued count" "$(jq .queued "$TMP/script.out")" 8
    chat "$B"
    expect "429 status" "$CODE" 429
    expect "429 body" "$(out -c '.error | [.type, .code, .param]')" \
        '["rate_limit_error","rate_limit_exceeded",null]'
    expect "retry-after" "$(header retry-after)" 1
    expect "retry-after-ms" "$(header retry-after-ms)" 1500
    chat "$B"
    expect "quota body" "$(out -c '.error | [.type, .code]')" \
        '["insufficient_quota","insufficient_quota"]'
    chat "$B"
    expect "500 body" "$(out -c '[.error.type, .error.code]')" '["server_error",null]'
    chat "$B"
    expect "503 repeat 1" "$CODE" 503
    chat "$SB"
    expect "503 repeat 2 (stream request gets JSON)" "$CODE $(out .error.type)" "503 server_error"
    chat "$B"
    expect "body override" "$CODE $(out -c .)" '200 {"hello":"world"}'
    chat "$B"
    expect "body_raw" "$CODE $(cat "$TMP/out")" "502 <html>bad gateway</html>"
    expect "header override" "$(header content-type)" "text/html"
    chat "$B"
    expect "error overrides" "$(out -c '.error | [.message, .type, .code]')" '["custom","t","c"]'
    chat "$B"
    expect "queue drained: default" "$CODE $(out .object)" "200 chat.completion"
    expect "nothing queued" "$(stat_of queued)" 0
}

t_answer_overrides()
{
    script '[{"content":"alpha beta","finish_reason":"content_filter","model":"x-1",
              "usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}},
             {"content":"alpha beta","finish_reason":null,"repeat":1}]' >/dev/null
    chat "$B"
    expect "content override" \
        "$(out -c '[.model, .choices[0].message.content, .choices[0].finish_reason]')" \
        '["x-1","alpha beta","content_filter"]'
    expect "usage override" "$(out -c .usage)" \
        '{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}'
    chat "$SB"
    expect "stream content override" "$(stream_text)" "alpha beta"
    expect "finish null" "$(last_ev '.choices[0].finish_reason')" null
}

t_script_validation()
{
    reset
    expect "unknown field" "$(script '[{"stauts":500}]')" 400
    expect "bad type" "$(script '[{"status":"500"}]')" 400
    expect "bad action" "$(script '[{"action":"explode"}]')" 400
    expect "bad header" "$(script '[{"headers":{"x":"a\r\nb"}}]')" 400
    expect "not an array" "$(script '42')" 400
    expect "atomic: nothing queued" "$(stat_of queued)" 0
    expect "single object accepted" "$(script '{"status":500}')" 200
    reset
    expect "reset clears queue" "$(stat_of queued)" 0
}

t_actions()
{
    reset
    script '[{"action":"reset"},{"action":"close"},{"action":"truncate"},{"action":"hang"},
             {"delay_ms":400,"action":"reset"}]' >/dev/null
    chat "$B"
    expect "reset: curl sees a connection reset" "$RC" 56
    chat "$B"
    expect "close: curl sees an empty reply" "$RC" 52
    chat "$B"
    expect "truncate: curl sees a partial body" "$RC" 18
    expect "truncate: status line sent" "$CODE" 200
    expect_range "truncate: body shorter than Content-Length" "$(wc -c <"$TMP/out")" \
        1 $(($(header content-length) - 1))
    chat "$B" -m 1
    expect "hang: client times out" "$RC" 28
    chat "$B"
    expect "delay then reset" "$RC" 56
    expect_range "delay then reset: time" "$SECS" 0.38 2
    sleep 0.3
    expect "hang: client_closed" "$(requests '.[3].client_closed')" true
    expect_range "hang: closed_after_ms" "$(requests '.[3].closed_after_ms')" 900 1300
    expect "our own closes are not client closes" \
        "$(requests '[.[0,1,2,4].client_closed] | any')" false
    expect "all done" "$(requests 'map(.done) | all')" true
    expect "stats client_closed" "$(stat_of client_closed)" 1
    expect "stats inflight" "$(stat_of inflight)" 0
}

t_delays()
{
    reset
    script '[{"delay_ms":500},{"delay_ms":3000},{"chunk_delay_ms":100},
             {"pause_after_chunks":2,"pause_ms":800},{"pause_after_chunks":3},
             {"chunk_delay_ms":200}]' >/dev/null
    chat "$B"
    expect_range "delay_ms" "$SECS" 0.48 1.5
    chat "$B" -m 0.5
    expect "delayed request abandoned" "$RC" 28
    chat "$SB"
    # 9 events: 1 role + 6 deltas + 1 finish + [DONE], 100 ms apart
    expect "chunk_delay_ms events" "$(ndata)" 9
    expect_range "chunk_delay_ms time" "$SECS" 0.78 2
    chat "$SB"
    expect "pause completes" "$(ndata)" 9
    expect_range "pause_ms time" "$SECS" 0.78 2
    chat "$SB" -m 0.6
    expect "pause without pause_ms holds forever" "$RC $(ndata)" "28 3"
    chat "$SB" -m 0.5
    expect "slow stream abandoned" "$RC" 28
    sleep 0.3
    expect "delay: client_closed" "$(requests '.[1].client_closed')" true
    expect_range "delay: closed_after_ms" "$(requests '.[1].closed_after_ms')" 450 750
    expect "held stream: client_closed" "$(requests '.[4].client_closed')" true
    expect "streaming: client_closed" "$(requests '.[5].client_closed')" true
    expect_range "streaming: closed_after_ms" "$(requests '.[5].closed_after_ms')" 450 750
    expect "completed ones are not client closes" \
        "$(requests '[.[0,2,3].client_closed] | any')" false
    expect "stats client_closed" "$(stat_of client_closed)" 3
}

t_stream_faults()
{
    reset
    script '[{"fail_after_chunks":3,"fail_mode":"reset"},
             {"fail_after_chunks":3,"fail_mode":"close"},
             {"fail_after_chunks":3,"fail_mode":"error_event","chunk_delay_ms":20},
             {"fail_after_chunks":9},{"fail_after_chunks":0}]' >/dev/null
    chat "$SB"
    expect "fail reset" "$RC $(ndata)" "56 3"
    chat "$SB"
    expect "fail close" "$RC $(ndata)" "18 3"
    chat "$SB"
    expect "fail error_event" "$RC $(ndata)" "18 4"
    expect "error event body" "$(last_ev '.error | [.type, .param, .code]')" \
        '["server_error",null,null]'
    expect "no DONE after failure" "$(grep -c 'DONE' "$TMP/out")" 0
    chat "$SB"
    expect "fail after everything: no final chunk" \
        "$RC $(ndata) $(grep -c DONE "$TMP/out")" "18 9 1"
    chat "$SB"
    expect "fail right after headers" "$RC $CODE $(ndata)" "18 200 0"
    expect "faults are not client closes" "$(stat_of client_closed)" 0
    # A reset must not discard what was already sent: a slow reader still gets every byte
    # up to the fault, exactly as much as with a clean close.
    script '[{"bytes":1000000,"fail_after_chunks":800,"fail_mode":"close"},
             {"bytes":1000000,"fail_after_chunks":800,"fail_mode":"reset"}]' >/dev/null
    chat "$SB" --limit-rate 4M
    local closed_bytes
    closed_bytes=$(wc -c <"$TMP/out")
    chat "$SB" --limit-rate 4M
    expect "reset after 800 chunks: all bytes, then reset" \
        "$RC $(wc -c <"$TMP/out")" "56 $closed_bytes"
    expect_range "800 chunks sent" "$closed_bytes" 800000 1100000
}

t_bytes()
{
    reset
    script '[{"bytes":10000000},{"bytes":10000000},{"bytes":3000,"n":2}]' >/dev/null
    expect "n is not a behaviour field" \
        "$(jq -r .error.message "$TMP/script.out" | grep -c unknown)" 1
    script '[{"bytes":10000000},{"bytes":10000000}]' >/dev/null
    chat "$B"
    expect "10 MB buffered" "$(out '.choices[0].message.content | length')" 10000000
    expect "10 MB buffered tokens" "$(out .usage.completion_tokens)" 1250000
    chat "$SBU"
    expect "10 MB streamed" "$(stream_text | wc -c)" 10000000
    expect "10 MB streamed usage" "$(last_ev .usage.completion_tokens)" 1250000
    expect "10 MB streamed DONE" "$(tail -n 2 "$TMP/out" | head -n 1)" "data: [DONE]"
}

t_log_and_stats()
{
    reset
    curl -sS -o /dev/null "$U/v1/chat/completions" -H 'X-Custom-Header: Foo' \
        -H 'Authorization: Bearer sk-test' -d "$B"
    expect "log size" "$(requests length)" 1
    expect "log entry" \
        "$(requests -c '.[0] | [.seq, .method, .path, .body, .client_closed, .done]')" \
        "[1,\"POST\",\"/v1/chat/completions\",$(jq -c -n --arg b "$B" '$b'),false,true]"
    expect "headers lower-cased" "$(requests '.[0].headers["x-custom-header"]')" "Foo"
    expect "authorization logged" "$(requests '.[0].headers.authorization')" "Bearer sk-test"
    expect "control calls not logged" "$(requests length)" 1
    expect "requests" "$(stat_of requests)" 1
    # keep-alive: three requests in one curl invocation share one TCP connection
    reset
    curl -sS -o /dev/null -o /dev/null -o /dev/null -d "$B" \
        "$U/v1/chat/completions" "$U/v1/chat/completions" "$U/v1/chat/completions"
    expect "keep-alive requests" "$(stat_of requests)" 3
    expect "keep-alive connections" "$(stat_of connections_accepted)" 1
    curl -sS -o /dev/null -d "$B" "$U/v1/chat/completions"
    expect "new connection counted" "$(stat_of connections_accepted)" 2
    # peak_inflight with concurrent delayed requests
    reset
    script '[{"delay_ms":1000,"repeat":20}]' >/dev/null
    local i args=()
    for i in $(seq 20); do args+=(-o /dev/null "$U/v1/chat/completions"); done
    curl -sS --no-progress-meter -Z --parallel-immediate --parallel-max 50 -d "$B" "${args[@]}"
    expect "peak_inflight" "$(stat_of peak_inflight)" 20
    expect "inflight back to 0" "$(stat_of inflight)" 0
    reset
    expect "reset counters" "$(curl -sS "$U/_fake/stats" |
        jq -c '[.requests, .client_closed, .connections_accepted, .inflight]')" "[0,0,0,0]"
    expect "reset log" "$(requests length)" 0
    expect "reset restarts seq" "$(curl -sS "$U/v1/chat/completions" -d "$B" | jq -r .id)" \
        "chatcmpl-fake-1"
}

t_many_connections()
{
    reset
    script '[{"delay_ms":1500,"repeat":1000}]' >/dev/null
    local k i args=() pids=()
    for i in $(seq 250); do args+=(-o /dev/null -w '%{http_code}\n' "$U/v1/chat/completions"); done
    for k in 1 2 3 4; do
        curl -sS --no-progress-meter -Z --parallel-immediate --parallel-max 250 -d "$B" \
            "${args[@]}" >"$TMP/many.$k" &
        pids+=($!)
    done
    wait "${pids[@]}"
    expect "1000 concurrent answered" "$(cat "$TMP"/many.* | grep -c '^200$')" 1000
    expect_range "1000 concurrent in flight at once" "$(stat_of peak_inflight)" 900 1000
    expect "1000 connections" "$(stat_of connections_accepted)" 1000
}

t_responses_default()
{
    reset
    resp "{$M,\"input\":\"one two three\",\"instructions\":\"be nice\"}"
    expect "responses status" "$CODE" 200
    expect "responses content-type" "$(header content-type)" "application/json"
    expect "responses request id" "$(header x-request-id)" "req_fake_1"
    expect "response id" "$(out '.id | test("^resp_[0-9a-f]{48}$")')" true
    expect "response fields" \
        "$(out -c '[.object, .status, .model, (.created_at | type), .background, .store]')" \
        '["response","completed","gpt-4o-mini-2024-07-18","number",false,true]'
    expect "response echoes" \
        "$(out -c '[.instructions, .max_output_tokens, .previous_response_id, .error]')" \
        '["be nice",null,null,null]'
    expect "response message" \
        "$(out -c '.output[0] | [(.id | test("^msg_[0-9a-f]{48}$")), .type, .status, .role]')" \
        '[true,"message","completed","assistant"]'
    expect "response text" "$(out -c '.output[0].content[0] | [.type, .text, .annotations]')" \
        '["output_text","Hello! You said: one two three",[]]'
    # P = (ceil(13/4)+4) + (ceil(7/4)+4) = 14; C = 6 words
    expect "response usage" "$(out -c .usage)" \
        '{"input_tokens":14,"input_tokens_details":{"cached_tokens":0},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":20}'
    api POST /responses "$RB"
    expect "/responses alias" "$CODE $(out .status)" "200 completed"
    resp "{$M,\"input\":\"one two three\",\"max_output_tokens\":4}"
    expect "max_output_tokens cuts" \
        "$(out -c '[.status, .incomplete_details, .output[0].status, .output[0].content[0].text, .usage.output_tokens, .max_output_tokens]')" \
        '["incomplete",{"reason":"max_output_tokens"},"incomplete","Hello! You said: one ",4,4]'
    resp "{$M,\"input\":\"one two three\",\"max_output_tokens\":6}"
    expect "max_output_tokens not reached" "$(out .status)" completed
    resp "{$M,\"input\":[{\"role\":\"user\",\"content\":\"first\"},{\"role\":\"assistant\",\"content\":\"x\"},
           {\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"last one\"}]}]}"
    expect "echo of the last user item" "$(out '.output[0].content[0].text')" \
        "Hello! You said: last one"
    # P = (2+4) + (1+4) + (2+4)
    expect "input items tokens" "$(out .usage.input_tokens)" 17
}

t_responses_bad()
{
    resp '{not json'
    expect "responses invalid json" "$CODE $(out -c '.error | [.type, .param]')" \
        '400 ["invalid_request_error",null]'
    resp '{"input":"x"}'
    expect "responses no model" "$CODE" 400
    resp "{$M,\"input\":5}"
    expect "responses bad input" "$CODE $(out .error.param)" "400 input"
    resp "{$M,\"input\":[\"x\"]}"
    expect "responses input item not an object" "$CODE $(out .error.param)" "400 input"
    resp "{$M,\"input\":\"x\",\"max_output_tokens\":0}"
    expect "responses bad max_output_tokens" "$CODE $(out .error.param)" "400 max_output_tokens"
    resp "{$M,\"input\":\"x\",\"instructions\":1}"
    expect "responses bad instructions" "$CODE $(out .error.param)" "400 instructions"
    resp "{$M,\"input\":\"x\",\"previous_response_id\":\"resp_unknown\"}"
    expect "unknown previous_response_id" "$CODE $(out .error.param)" "400 previous_response_id"
    expect "unknown previous_response_id message" "$(out .error.message)" \
        "Previous response with id 'resp_unknown' not found."
    api GET /v1/responses ""
    expect "GET /v1/responses" "$CODE $(header allow)" "405 POST"
    api POST /v1/responses/resp_x ""
    expect "POST /v1/responses/{id}" "$CODE $(header allow)" "405 GET, DELETE"
    api GET /v1/responses/resp_x/cancel ""
    expect "GET cancel" "$CODE $(header allow)" "405 POST"
    api DELETE /v1/responses/resp_x/input_items ""
    expect "DELETE input_items" "$CODE $(header allow)" "405 GET"
    api GET /v1/responses/resp_x/nope ""
    expect "unknown responses subpath" "$CODE $(out .error.message)" \
        "404 Invalid URL (GET /v1/responses/resp_x/nope)"
    api GET /v1/embeddings ""
    expect "GET embeddings" "$CODE $(header allow)" "405 POST"
}

t_responses_stream()
{
    reset
    resp "$RSB"
    expect "responses stream status" "$CODE $(header content-type)" "200 text/event-stream"
    expect "responses stream request id" "$(header x-request-id)" "req_fake_1"
    expect "responses stream events" "$(ev_names)" "$RS_EVENTS,response.completed"
    expect "event names = data types" "$(all_ev 'map(.type) | join(",")' | jq -r .)" "$(ev_names)"
    expect "sequence numbers" "$(all_ev '[.[].sequence_number] == [range(length)]')" true
    expect "created: in progress, no usage" \
        "$(first_ev '.response | [.status, .output, .usage, (.id | test("^resp_"))]')" \
        '["in_progress",[],null,true]'
    expect "same response id throughout" \
        "$(all_ev '[.[].response.id // empty] | unique | length')" 1
    expect "item added" "$(all_ev '.[2] | [.output_index, .item.status, .item.content]')" \
        '[0,"in_progress",[]]'
    expect "part added" "$(all_ev '.[3] | [.content_index, .part.type, .part.text]')" \
        '[0,"output_text",""]'
    expect "deltas one per word" "$(all_ev '[.[] | .delta // empty]')" \
        '["Hello! ","You ","said: ","one ","two ","three"]'
    expect "deltas carry the item" \
        "$(all_ev '[.[] | select(.delta) | .item_id] | unique | length')" 1
    expect "text done" "$(all_ev '.[10].text')" '"Hello! You said: one two three"'
    expect "item done" "$(all_ev '.[12].item | [.status, .content[0].text]')" \
        '["completed","Hello! You said: one two three"]'
    expect "completed response" \
        "$(last_ev '.response | [.status, .output[0].content[0].text, .usage.total_tokens]')" \
        '["completed","Hello! You said: one two three",14]'
    expect "no [DONE]" "$(grep -c 'DONE' "$TMP/out")" 0
    expect "responses stream ends with \\n\\n" "$(tail -c 2 "$TMP/out" | od -An -c | tr -d ' ')" \
        '\n\n'
    resp "{$M,\"input\":\"one two three\",\"stream\":true,\"max_output_tokens\":2}"
    expect "stream cut by max_output_tokens" \
        "$(last_ev '[.type, .response.incomplete_details.reason, .response.usage.output_tokens]')" \
        '["response.incomplete","max_output_tokens",2]'
}

t_responses_store()
{
    reset
    resp "$RB"
    local id created sid iid after
    id=$(out .id)
    created=$(out -S -c .)
    api GET "/v1/responses/$id" ""
    expect "GET stored response" "$CODE $(out -S -c .)" "200 $created"
    expect "GET request id" "$(header x-request-id)" "req_fake_2"
    resp "$RSB"
    sid=$(last_ev .response.id | jq -r .)
    api GET "/v1/responses/$sid" ""
    expect "streamed response stored" "$CODE $(out -c '[.status, .usage.output_tokens]')" \
        '200 ["completed",6]'
    resp "{$M,\"input\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},
           {\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"c\"}]},
           {\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"d\"}]}"
    iid=$(out .id)
    api GET "/v1/responses/$iid/input_items" ""
    expect "input_items list" "$CODE $(out -c '[.object, (.data | length), .has_more]')" \
        '200 ["list",4,false]'
    expect "input_items newest first" "$(out -c '[.data[] | .content[0].text // .output]')" \
        '["d","c","b","a"]'
    expect "input_items as messages" \
        "$(out -c '.data[3] | [(.id | test("^msg_[0-9a-f]{48}$")), .type, .role, .status, .content]')" \
        '[true,"message","user","completed",[{"type":"input_text","text":"a"}]]'
    expect "assistant content is output_text" "$(out '.data[2].content[0].type')" output_text
    expect "other items kept" "$(out -c '.data[0] | [(.id | test("^item_")), .type, .call_id]')" \
        '[true,"function_call_output","call_1"]'
    expect "first_id, last_id" \
        "$(out '[.first_id == .data[0].id, .last_id == .data[-1].id] | all')" true
    api GET "/v1/responses/$iid/input_items?order=asc&limit=2" ""
    expect "input_items asc, limit" \
        "$(out -c '[[.data[].content[0].text], .has_more]')" '[["a","b"],true]'
    after=$(out -r .last_id)
    api GET "/v1/responses/$iid/input_items?order=asc&limit=2&after=$after" ""
    expect "input_items after" "$(out -c '[[.data[] | .content[0].text // .output], .has_more]')" \
        '[["c","d"],false]'
    api GET "/v1/responses/$iid/input_items?limit=101" ""
    expect "input_items bad limit" "$CODE $(out .error.param)" "400 limit"
    api GET "/v1/responses/$iid/input_items?order=sideways" ""
    expect "input_items bad order" "$CODE $(out .error.param)" "400 order"
    api GET "/v1/responses/$id/input_items" ""
    expect "string input is one item" "$(out -c '[.data[].content[0].text]')" '["one two three"]'
    resp "{$M,\"input\":\"again\",\"previous_response_id\":\"$id\"}"
    expect "known previous_response_id" "$CODE $(out .previous_response_id)" "200 $id"
    api DELETE "/v1/responses/$id" ""
    expect "DELETE" "$CODE $(out -c .)" "200 {\"id\":\"$id\",\"object\":\"response\",\"deleted\":true}"
    api GET "/v1/responses/$id" ""
    expect "GET after DELETE" "$CODE $(out -c '.error | [.type, .code]')" \
        '404 ["invalid_request_error",null]'
    expect "404 message" "$(out .error.message)" "Response with id '$id' not found."
    api DELETE "/v1/responses/$id" ""
    expect "DELETE twice" "$CODE" 404
    api GET "/responses/$sid/input_items" ""
    expect "follow-ups without /v1" "$CODE" 200
    resp "{$M,\"input\":\"x\",\"store\":false}"
    api GET "/v1/responses/$(out .id)" ""
    expect "store false: not kept" "$CODE" 404
    reset
    api GET "/v1/responses/$sid" ""
    expect "reset forgets responses" "$CODE" 404
}

t_responses_background()
{
    reset
    resp "{$M,\"input\":\"one two three\",\"background\":true}"
    local id
    id=$(out .id)
    expect "background answer" "$CODE $(out -c '[.status, .background, .output, .usage]')" \
        '200 ["queued",true,[],null]'
    api GET "/v1/responses/$id" ""
    expect "first GET finds it completed" "$(out -c '[.status, .usage.total_tokens]')" \
        '["completed",14]'
    api POST "/v1/responses/$id/cancel" ""
    expect "cancel a completed one" "$CODE $(out .error.message)" \
        "400 Cannot cancel a completed response."
    resp "{$M,\"input\":\"x\",\"background\":true}"
    id=$(out .id)
    api POST "/v1/responses/$id/cancel" ""
    expect "cancel a queued one" "$CODE $(out -c '[.id, .status, .output, .usage]')" \
        "200 [\"$id\",\"cancelled\",[],null]"
    api POST "/v1/responses/$id/cancel" ""
    expect "cancel again" "$CODE $(out .status)" "200 cancelled"
    api GET "/v1/responses/$id" ""
    expect "GET a cancelled one" "$(out .status)" cancelled
    resp "$RB"
    api POST "/v1/responses/$(out .id)/cancel" ""
    expect "cancel a foreground one" "$CODE $(out .error.message)" \
        "400 Only background responses can be cancelled."
    api POST /v1/responses/resp_nope/cancel ""
    expect "cancel an unknown one" "$CODE" 404
    script '[{"background_ms":400}]' >/dev/null
    resp "{$M,\"input\":\"x\",\"background\":true}"
    id=$(out .id)
    api GET "/v1/responses/$id" ""
    expect "background_ms: still in progress" "$(out -c '[.status, .usage]')" '["in_progress",null]'
    sleep 0.5
    api GET "/v1/responses/$id" ""
    expect "background_ms: then completed" "$(out -c '[.status, .usage.output_tokens]')" \
        '["completed",4]'
    resp "{$M,\"input\":\"x\",\"background\":true,\"stream\":true}"
    api POST "/v1/responses/$(last_ev .response.id | jq -r .)/cancel" ""
    expect "a streamed background one is finished" "$CODE" 400
}

t_responses_scripts()
{
    reset
    script '[{"status":429,"headers":{"retry-after":"2"}},{"body":{"hello":"responses"}},
             {"status":503},{"delay_ms":300},{"action":"reset"},{"action":"truncate"},
             {"content":"alpha beta","model":"x-1",
              "usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}},
             {"status":500},{"action":"close"}]' >/dev/null
    resp "$RB"
    expect "responses 429" "$CODE $(out .error.code) $(header retry-after)" \
        "429 rate_limit_exceeded 2"
    resp "$RB"
    expect "responses body override" "$CODE $(out -c .)" '200 {"hello":"responses"}'
    resp "$RB"
    expect "responses 503" "$CODE $(out .error.type)" "503 server_error"
    resp "$RB"
    expect_range "responses delay_ms" "$SECS" 0.28 1.5
    local id
    id=$(out .id)
    resp "$RSB"
    expect "responses stream reset" "$RC" 56
    resp "$RB"
    expect "responses truncate" "$RC $CODE" "18 200"
    resp "$RB"
    expect "responses overrides" \
        "$(out -c '[.model, .output[0].content[0].text, .usage]')" \
        '["x-1","alpha beta",{"input_tokens":1,"output_tokens":2,"total_tokens":3}]'
    api GET "/v1/responses/$id" ""
    expect "scripted GET" "$CODE" 500
    api DELETE "/v1/responses/$id" ""
    expect "scripted DELETE" "$RC" 52
    api GET "/v1/responses/$id" ""
    expect "a scripted DELETE forgets nothing" "$CODE $(out .id)" "200 $id"
}

t_responses_stream_faults()
{
    reset
    script '[{"fail_after_chunks":13},{"fail_after_chunks":13,"fail_mode":"reset"},
             {"usage":null},{"response_status":"incomplete"},
             {"response_status":"incomplete","incomplete_reason":"content_filter"},
             {"response_status":"failed"},
             {"response_status":"failed","usage":null,"error_code":"rate_limit_exceeded",
              "error_message":"slow down"},
             {"fail_after_chunks":6,"fail_mode":"error_event","chunk_delay_ms":10},
             {"malformed_after_chunks":5},{"terminal_delay_ms":600},{"terminal_delay_ms":2000},
             {"response_status":"failed"}]' >/dev/null
    resp "$RSB"
    expect "cut before the last event" "$RC $(ev_names)" "18 $RS_EVENTS"
    resp "$RSB"
    expect "reset before the last event" "$RC $(ev_names)" "56 $RS_EVENTS"
    resp "$RSB"
    expect "completed without usage" "$RC $(last_ev '[.type, .response.usage]')" \
        '0 ["response.completed",null]'
    resp "$RSB"
    expect "incomplete with usage" \
        "$(last_ev '[.type, .response.status, .response.incomplete_details.reason, .response.usage.output_tokens]')" \
        '["response.incomplete","incomplete","max_output_tokens",6]'
    expect "incomplete item" "$(all_ev '.[-2].item.status')" '"incomplete"'
    resp "$RSB"
    expect "incomplete_reason" "$(last_ev .response.incomplete_details.reason)" '"content_filter"'
    resp "$RSB"
    expect "failed with usage" "$(ev_names | tr ',' '\n' | tail -n 2 | paste -sd, -)" \
        "response.output_text.delta,response.failed"
    expect "failed response" \
        "$(last_ev '.response | [.status, .error.code, .output, .usage.total_tokens]')" \
        '["failed","server_error",[],14]'
    resp "$RSB"
    expect "failed without usage" "$(last_ev '.response | [.error, .usage]')" \
        '[{"code":"rate_limit_exceeded","message":"slow down"},null]'
    resp "$RSB"
    expect "error event mid-stream" "$RC $(ev_names | tr ',' '\n' | tail -n 1)" "18 error"
    expect "error event body" "$(last_ev '[.type, .code, .param, .sequence_number]')" \
        '["error","server_error",null,6]'
    resp "$RSB"
    expect "malformed event" "$RC $(ndata) $(events | grep -vc '}$')" "0 15 1"
    expect "malformed event is the 6th" "$(grep '^data: ' "$TMP/out" | sed -n 6p)" \
        'data: {"type":"response.output_text.delta","delta":'
    expect "stream goes on after it" "$(events | grep '}$' | jq -j '.delta // empty')" \
        "Hello! You said: one two three"
    resp "$RSB"
    expect_range "terminal_delay_ms" "$SECS" 0.58 2
    expect "terminal_delay_ms completes" "$(last_ev .type)" '"response.completed"'
    resp "$RSB" -m 0.6
    expect "all but the last event before the silence" "$RC $(ev_names)" "28 $RS_EVENTS"
    resp "$RB"
    expect "buffered failed" "$(out -c '[.status, .error.code, .output]')" \
        '["failed","server_error",[]]'
    sleep 0.3
    expect "only the abandoned one is a client close" \
        "$(requests -c '[.[].client_closed] | indices(true)')" '[10]'
}

t_stream_extras_chat()
{
    reset
    script '[{"malformed_after_chunks":1},{"terminal_delay_ms":2000},{"usage":null}]' >/dev/null
    chat "$SB"
    expect "chat malformed event" "$(grep '^data: ' "$TMP/out" | sed -n 2p)" \
        'data: {"id":"chatcmpl-fake-1","choices":['
    expect "chat stream goes on" "$(events | grep '}$' | jq -j '.choices[0].delta.content // empty')" \
        "Hello! You said: one two three"
    chat "$SB" -m 0.6
    expect "chat: all but [DONE] before the silence" "$RC $(ndata) $(grep -c DONE "$TMP/out")" \
        "28 8 0"
    chat "$B"
    expect "chat usage null" "$(out -c .usage)" null
}

t_embeddings()
{
    reset
    api POST /v1/embeddings '{"model":"text-embedding-3-small","input":"a b c"}'
    expect "embeddings status" "$CODE $(header content-type)" "200 application/json"
    expect "embeddings shape" \
        "$(out -c '[.object, .model, (.data | length), .data[0].object, .data[0].index, (.data[0].embedding | length)]')" \
        '["list","text-embedding-3-small",1,"embedding",0,8]'
    expect_range "unit vector" "$(out '[.data[0].embedding[] | . * .] | add')" 0.9999 1.0001
    expect "embeddings usage" "$(out -c .usage)" '{"prompt_tokens":2,"total_tokens":2}'
    local v
    v=$(out -c .data[0].embedding)
    api POST /embeddings '{"model":"m","input":["x","a b c",[1,2,3],[4,5]]}'
    expect "several inputs" "$(out -c '[.data[].index]')" '[0,1,2,3]'
    expect "same input, same vector" "$(out -c .data[1].embedding)" "$v"
    expect "different inputs differ" "$(out '.data[0].embedding != .data[1].embedding')" true
    # 1 + 2 + 3 + 2
    expect "several inputs usage" "$(out .usage.prompt_tokens)" 8
    api POST /v1/embeddings '{"model":"m","input":[1,2,3]}'
    expect "a token array is one input" "$(out -c '[(.data | length), .usage.prompt_tokens]')" \
        '[1,3]'
    api POST /v1/embeddings '{"model":"m","input":"a b c","dimensions":3}'
    expect "dimensions" "$(out '.data[0].embedding | length')" 3
    api POST /v1/embeddings '{"model":"m","input":"a b c","encoding_format":"base64"}'
    expect "base64 length" "$(out '.data[0].embedding | length')" 44
    expect "base64 decodes to the same floats" \
        "$(out -r '.data[0].embedding' | base64 -d | od -An -v -tf4 | tr -s ' ' '\n' | grep . |
            paste -d' ' - <(jq -r '.[]' <<<"$v") |
            awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6) bad++ } END { print bad + 0 }')" 0
    api POST /v1/embeddings '{"model":"m"}'
    expect "embeddings no input" "$CODE $(out .error.param) $(out .error.message)" \
        "400 input Missing required parameter: 'input'."
    api POST /v1/embeddings '{"model":"m","input":[]}'
    expect "embeddings empty input" "$CODE $(out .error.param)" "400 input"
    api POST /v1/embeddings '{"model":"m","input":""}'
    expect "embeddings empty string" "$CODE" 400
    api POST /v1/embeddings '{"model":"m","input":[{"a":1}]}'
    expect "embeddings bad input" "$CODE" 400
    api POST /v1/embeddings '{"input":"x"}'
    expect "embeddings no model" "$CODE" 400
    api POST /v1/embeddings '{"model":"m","input":"x","encoding_format":"hex"}'
    expect "embeddings bad format" "$CODE $(out .error.param)" "400 encoding_format"
    api POST /v1/embeddings '{"model":"m","input":"x","dimensions":0}'
    expect "embeddings bad dimensions" "$CODE $(out .error.param)" "400 dimensions"
    script '[{"status":500},{"action":"hang"},{"model":"m-2","usage":{"prompt_tokens":9}}]' \
        >/dev/null
    api POST /v1/embeddings '{"model":"m","input":"x"}'
    expect "scripted embeddings 500" "$CODE $(out .error.type)" "500 server_error"
    api POST /v1/embeddings '{"model":"m","input":"x"}' -m 0.5
    expect "scripted embeddings hang" "$RC" 28
    api POST /v1/embeddings '{"model":"m","input":"x"}'
    expect "embeddings overrides" "$(out -c '[.model, .usage]')" '["m-2",{"prompt_tokens":9}]'
}

t_responses_log()
{
    reset
    resp "$RB" -H 'Authorization: Bearer sk-resp'
    local id
    id=$(out .id)
    api GET "/v1/responses/$id/input_items?limit=1&order=asc" "" -H 'Authorization: Bearer sk-ii'
    api DELETE "/v1/responses/$id" ""
    api PUT "/v1/responses/$id" ""
    api POST /v1/embeddings '{"model":"m","input":"x"}'
    expect "log: methods and paths" "$(requests -c '[.[] | [.method, .path]]')" \
        "[[\"POST\",\"/v1/responses\"],[\"GET\",\"/v1/responses/$id/input_items?limit=1&order=asc\"],[\"DELETE\",\"/v1/responses/$id\"],[\"PUT\",\"/v1/responses/$id\"],[\"POST\",\"/v1/embeddings\"]]"
    expect "log: authorization" "$(requests -c '[.[0,1].headers.authorization]')" \
        '["Bearer sk-resp","Bearer sk-ii"]'
    expect "log: bodies" "$(requests -c --arg b "$RB" '[.[0].body == $b, .[4].body]')" \
        '[true,"{\"model\":\"m\",\"input\":\"x\"}"]'
    expect "log: all done" "$(requests 'map(.done) | all')" true
    expect "stats: all counted" "$(stat_of requests)" 5
    expect "stats: inflight" "$(stat_of inflight)" 0
}

t_shutdown()
{
    expect "no per-request output on stderr" "$(wc -c <"$TMP/stderr")" 0
    kill -TERM "$PID"
    wait "$PID"
    expect "SIGTERM exits 0" "$?" 0
    PID=
    # Also catches sanitizer reports (leaks are reported at exit).
    expect "stderr still empty after exit" "$(cat "$TMP/stderr")" ""
    "$BIN" --port 0 >"$TMP/stdout2" 2>&1 &
    local pid2=$!
    for _ in $(seq 50); do [ -s "$TMP/stdout2" ] && break; sleep 0.1; done
    expect "second instance on another free port" "$(grep -c '^[0-9][0-9]*$' "$TMP/stdout2")" 1
    kill -INT "$pid2"
    wait "$pid2"
    expect "SIGINT exits 0" "$?" 0
    "$BIN" --bogus >/dev/null 2>&1
    expect "bad option exits 2" "$?" 2
}

start_fake
t_startup
t_default_completion
t_limits
t_bad_requests
t_stream
t_status_scripts
t_answer_overrides
t_script_validation
t_actions
t_delays
t_stream_faults
t_bytes
t_log_and_stats
t_many_connections
t_responses_default
t_responses_bad
t_responses_stream
t_responses_store
t_responses_background
t_responses_scripts
t_responses_stream_faults
t_stream_extras_chat
t_embeddings
t_responses_log
t_shutdown

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
