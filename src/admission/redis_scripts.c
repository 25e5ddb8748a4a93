/* SPDX-License-Identifier: MIT */
/* redis_scripts.c - the Lua scripts and key names of the Redis store. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/redis_scripts.h"

#include <stdio.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* Shared by the budget scripts.  The GCRA arithmetic is quota.c's, in Lua: a per-minute
 * limit's state is a debt in 1/60000ths of an item that drains at `limit` per millisecond;
 * one item costs 60000; the bucket holds limit * 60000.  Lua numbers are doubles, exact to
 * 2^53, so limits are capped at 10^10 per minute here (10^10 * 60000 < 2^53); nobody can
 * tell that from unlimited.  Numbers go back to Redis through fmt(), never tostring(), which
 * would write 1e+14. */
#define PRELUDE                                                                                    \
    "local W = 60000\n"                                                                            \
    "local RATE_MAX = " STR(                                                                       \
        SL_REDIS_RATE_MAX) "\n"                                                                    \
                           "local tm = redis.call('TIME')\n"                                       \
                           "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / "    \
                           "1000)\n"                                                               \
                           "local function num(v) return tonumber(v) or 0 end\n"                   \
                           "local function fmt(n) return string.format('%d', math.floor(n)) end\n" \
                           "local function rate(key, limit)\n"                                     \
                           "  if limit <= 0 then return nil end\n"                                 \
                           "  if limit > RATE_MAX then limit = RATE_MAX end\n"                     \
                           "  local s = redis.call('HMGET', key, 'debt', 'last')\n"                \
                           "  local debt, last = num(s[1]), num(s[2])\n"                           \
                           "  if debt > limit * W then debt = limit * W end\n"                     \
                           "  if now > last and debt > 0 then\n"                                   \
                           "    local el = now - last\n"                                           \
                           "    if el > debt / limit then debt = 0 else debt = debt - el * limit " \
                           "end\n"                                                                 \
                           "  end\n"                                                               \
                           "  if now > last then last = now end\n"                                 \
                           "  return {debt = debt, limit = limit, last = last}\n"                  \
                           "end\n"                                                                 \
                           "local function save_rate(key, r)\n"                                    \
                           "  redis.call('HSET', key, 'debt', fmt(r.debt), 'last', fmt(r.last))\n" \
                           "  redis.call('PEXPIRE', key, fmt(math.ceil(r.debt / r.limit) + "       \
                           "1000))\n"                                                              \
                           "end\n"                                                                 \
                           "local function put_used(key, used, expire_at)\n"                       \
                           "  redis.call('SET', key, fmt(used))\n"                                 \
                           "  if expire_at > 0 then redis.call('EXPIREAT', key, fmt(expire_at)) "  \
                           "end\n"                                                                 \
                           "end\n"

struct sl_redis_script sl_script_reserve = {
    .name = "reserve",
    .source = PRELUDE
    "local K_RPM, K_TPM, K_USED, K_RESERVED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local K_RESV, K_EXP, K_EXPIRED = KEYS[5], KEYS[6], KEYS[7]\n"
    "local id, tokens = ARGV[1], tonumber(ARGV[2])\n"
    "local rpm, tpm, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local lease, used_until = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local budget_wait, lifetime = tonumber(ARGV[8]), ARGV[9] == '1'\n"
    "local used = num(redis.call('GET', K_USED))\n"
    "local reserved = num(redis.call('GET', K_RESERVED))\n"
    /* A reservation whose lease ran out belongs to a host that died, or lost Redis for longer
     * than any request can live: charge it in full (it may have been billed); a late settle
     * corrects the charge through K_EXPIRED. */
    "local gone = redis.call('ZRANGEBYSCORE', K_EXP, '-inf', now, 'LIMIT', 0, 32)\n"
    "if #gone > 0 then\n"
    "  for _, g in ipairs(gone) do\n"
    "    local n = num(redis.call('HGET', K_RESV, g))\n"
    "    redis.call('HDEL', K_RESV, g)\n"
    "    redis.call('HSET', K_EXPIRED, g, fmt(n))\n"
    "    reserved = math.max(reserved - n, 0)\n"
    "    used = used + n\n"
    "  end\n"
    "  redis.call('ZREM', K_EXP, unpack(gone))\n"
    "  redis.call('PEXPIRE', K_EXPIRED, 604800000)\n"
    "  redis.call('SET', K_RESERVED, fmt(reserved))\n"
    "  put_used(K_USED, used, used_until)\n"
    "end\n"
    "local function check(r, items)\n"
    "  if not r then return true, 0, false end\n"
    "  if items > r.limit then return false, W, true end\n"
    "  local need = r.debt + items * W\n"
    "  if need <= r.limit * W then return true, 0, false end\n"
    "  return false, math.ceil((need - r.limit * W) / r.limit), false\n"
    "end\n"
    "local function window(r)\n"
    "  if not r then return -1, 0 end\n"
    "  return math.floor((r.limit * W - r.debt) / W), math.ceil(r.debt / r.limit)\n"
    "end\n"
    "local r_rpm, r_tpm = rate(K_RPM, rpm), rate(K_TPM, tpm)\n"
    "local verdict, wait, never = 0, 0, false\n"
    "local function refuse(v, ok, w, nv)\n"
    "  if ok then return end\n"
    "  if verdict == 0 then verdict = v end\n"
    "  if w > wait then wait = w end\n"
    "  never = never or nv\n"
    "end\n"
    "local ok, w, nv = check(r_rpm, 1)\n"
    "refuse(1, ok, w, nv)\n"
    "ok, w, nv = check(r_tpm, tokens)\n"
    "refuse(2, ok, w, nv)\n"
    "if budget > 0 and used + reserved + tokens > budget then\n"
    "  refuse(3, false, budget_wait > 0 and budget_wait or W,\n"
    "         tokens > budget or (lifetime and used + tokens > budget))\n"
    "end\n"
    "if never and wait < W then wait = W end\n"
    /* A reserve sent again under the same id is not charged twice. */
    "if verdict == 0 and redis.call('HEXISTS', K_RESV, id) == 0 then\n"
    "  if r_rpm then r_rpm.debt = r_rpm.debt + W; save_rate(K_RPM, r_rpm) end\n"
    "  if r_tpm then r_tpm.debt = r_tpm.debt + tokens * W; save_rate(K_TPM, r_tpm) end\n"
    "  redis.call('HSET', K_RESV, id, fmt(tokens))\n"
    "  redis.call('ZADD', K_EXP, fmt(now + lease), id)\n"
    "  reserved = reserved + tokens\n"
    "  redis.call('SET', K_RESERVED, fmt(reserved))\n"
    "end\n"
    "local rr, rs = window(r_rpm)\n"
    "local tr, ts = window(r_tpm)\n"
    "return {verdict, wait, never and 1 or 0, rr, rs, tr, ts, used, reserved}\n",
};

/* Settlements of one tenant, several at once: a worker sends what finished in the last few
 * milliseconds as one call, so a request costs one script (its reserve) plus a share of
 * one.  Per settlement three arguments: id, actual tokens, and the index in KEYS of its
 * marker, or 0.  A reservation this script finds in K_RESV is settled from it; one found in
 * K_EXPIRED corrects the full charge its expiry made.  One in neither was settled before when
 * Redis had reserved it (marker 0: the host saw the reserve succeed), or was never reserved
 * here when the host admitted it alone while Redis was out of reach; only those carry a
 * marker, which makes sending them twice harmless. */
struct sl_redis_script sl_script_settle_batch = {
    .name = "settle_batch",
    .source = PRELUDE
    "local K_TPM, K_USED, K_RESERVED, K_RESV = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local K_EXP, K_EXPIRED = KEYS[5], KEYS[6]\n"
    "local tpm, used_until, mark_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local n = math.floor((#ARGV - 3) / 3)\n"
    "if n < 1 then return 0 end\n"
    "local ids = {}\n"
    "for i = 1, n do ids[i] = ARGV[3 * i + 1] end\n"
    "local held = redis.call('HMGET', K_RESV, unpack(ids))\n"
    "local used = num(redis.call('GET', K_USED))\n"
    "local r = rate(K_TPM, tpm)\n"
    "local gone, released, applied, seen = {}, 0, 0, {}\n"
    "for i = 1, n do\n"
    "  local id, actual, mk = ids[i], tonumber(ARGV[3 * i + 2]) or 0, tonumber(ARGV[3 * i + 3]) or "
    "0\n"
    "  local mark = mk > 0 and KEYS[mk] or nil\n"
    "  if not seen[id] and not (mark and redis.call('EXISTS', mark) == 1) then\n"
    "    seen[id] = true\n"
    "    local h = held[i] and tonumber(held[i])\n"
    "    if h then\n"
    "      gone[#gone + 1] = id\n"
    "      released = released + h\n"
    "      used = used + actual\n"
    /* TPM was charged the reservation: correct it to what was spent, as quota.c does. */
    "      if r then\n"
    "        if actual <= h then r.debt = math.max(r.debt - (h - actual) * W, 0)\n"
    "        else r.debt = math.min(r.debt + math.min(actual - h, r.limit) * W, r.limit * W) end\n"
    "      end\n"
    "    else\n"
    "      local charged = redis.call('HGET', K_EXPIRED, id)\n"
    "      if charged then\n"
    "        redis.call('HDEL', K_EXPIRED, id)\n"
    "        used = math.max(used + actual - tonumber(charged), 0)\n"
    "      elseif mark then\n"
    "        used = used + actual\n"
    "      end\n"
    "    end\n"
    "    if mark then redis.call('SET', mark, fmt(actual), 'EX', fmt(mark_ttl)) end\n"
    "    applied = applied + 1\n"
    "  end\n"
    "end\n"
    "if #gone > 0 then\n"
    "  redis.call('HDEL', K_RESV, unpack(gone))\n"
    "  redis.call('ZREM', K_EXP, unpack(gone))\n"
    "  local reserved = math.max(num(redis.call('GET', K_RESERVED)) - released, 0)\n"
    "  redis.call('SET', K_RESERVED, fmt(reserved))\n"
    "  if r then save_rate(K_TPM, r) end\n"
    "end\n"
    "put_used(K_USED, used, used_until)\n"
    "return applied\n",
};

/* The tenant table: KEYS[1] tenants (name -> limits JSON), KEYS[2] keys (SHA-256 hex ->
 * {"tenant","id","created"}), KEYS[3] version, bumped on every change so every host's poll
 * sees it. */
#define ADMIN_PRELUDE                                                                              \
    "local K_TENANTS, K_KEYS, K_VERSION = KEYS[1], KEYS[2], KEYS[3]\n"                             \
    "local function key_field(json, field)\n"                                                      \
    "  local ok, v = pcall(cjson.decode, json)\n"                                                  \
    "  if ok and type(v) == 'table' then return v[field] end\n"                                    \
    "  return nil\n"                                                                               \
    "end\n"

struct sl_redis_script sl_script_tenant_put = {
    .name = "tenant_put",
    .source = ADMIN_PRELUDE "local exists = redis.call('HEXISTS', K_TENANTS, ARGV[1]) == 1\n"
                            "if ARGV[3] == '1' and exists then return 'exists' end\n"
                            "if ARGV[3] ~= '1' and not exists then return 'missing' end\n"
                            "redis.call('HSET', K_TENANTS, ARGV[1], ARGV[2])\n"
                            "redis.call('INCR', K_VERSION)\n"
                            "return 'ok'\n",
};

struct sl_redis_script sl_script_tenant_delete = {
    .name = "tenant_delete",
    .source = ADMIN_PRELUDE
    "if redis.call('HDEL', K_TENANTS, ARGV[1]) == 0 then return 'missing' end\n"
    "local all = redis.call('HGETALL', K_KEYS)\n"
    "for i = 1, #all, 2 do\n"
    "  if key_field(all[i + 1], 'tenant') == ARGV[1] then redis.call('HDEL', K_KEYS, all[i]) end\n"
    "end\n"
    "redis.call('INCR', K_VERSION)\n"
    "return 'ok'\n",
};

struct sl_redis_script sl_script_key_add = {
    .name = "key_add",
    .source = ADMIN_PRELUDE
    "if ARGV[4] == '1' and redis.call('HEXISTS', K_TENANTS, ARGV[3]) == 0 then\n"
    "  return 'missing'\n"
    "end\n"
    "if redis.call('HSETNX', K_KEYS, ARGV[1], ARGV[2]) == 0 then return 'exists' end\n"
    "redis.call('INCR', K_VERSION)\n"
    "return 'ok'\n",
};

struct sl_redis_script sl_script_key_revoke = {
    .name = "key_revoke",
    .source = ADMIN_PRELUDE "local all = redis.call('HGETALL', K_KEYS)\n"
                            "for i = 1, #all, 2 do\n"
                            "  if key_field(all[i + 1], 'id') == ARGV[1] then\n"
                            "    redis.call('HDEL', K_KEYS, all[i])\n"
                            "    redis.call('INCR', K_VERSION)\n"
                            "    return 'ok'\n"
                            "  end\n"
                            "end\n"
                            "return 'missing'\n",
};

struct sl_redis_script sl_script_dump = {
    .name = "dump",
    .source = ADMIN_PRELUDE
    "return {tonumber(redis.call('GET', K_VERSION) or '0'), redis.call('HGETALL', K_TENANTS),\n"
    "        redis.call('HGETALL', K_KEYS)}\n",
};

void sl_redis_scripts_init(void)
{
    struct sl_redis_script *all[] = { &sl_script_reserve,    &sl_script_settle_batch,
                                      &sl_script_tenant_put, &sl_script_tenant_delete,
                                      &sl_script_key_add,    &sl_script_key_revoke,
                                      &sl_script_dump };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sl_redis_script_init(all[i]);
}

size_t sl_redis_tenant_key(char *out, size_t sz, const char *prefix, const char *tenant,
                           const char *what, const char *arg)
{
    int n = arg ? snprintf(out, sz, "%s{%s}:%s:%s", prefix, tenant, what, arg)
                : snprintf(out, sz, "%s{%s}:%s", prefix, tenant, what);

    return n > 0 && (size_t)n < sz ? (size_t)n : 0;
}

size_t sl_redis_admin_key(char *out, size_t sz, const char *prefix, const char *what)
{
    int n = snprintf(out, sz, "%s{@admin}:%s", prefix, what);

    return n > 0 && (size_t)n < sz ? (size_t)n : 0;
}
