/* SPDX-License-Identifier: MIT */
/* harness.h - helpers for integration tests: run the real sluiced (and the fake upstream) on
 * free loopback ports in a scratch directory, talk HTTP to them, read their logs. */
#ifndef SL_TEST_HARNESS_H
#define SL_TEST_HARNESS_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifndef SL_TEST_BUILDDIR
#define SL_TEST_BUILDDIR "."
#endif
#define H_SLUICED SL_TEST_BUILDDIR "/src/sluiced"

struct h_daemon {
    pid_t pid;
    int port;
    char dir[256];
    char conf[300];
    char log[300];
};

struct h_resp {
    long status;
    char *headers; /* raw header block, lower-cased names as sent */
    char *body;
    size_t body_len;
};

/* A scratch directory removed at exit; returns a static path. */
const char *h_tmpdir(void);
int h_free_port(void);
/* Write text to dir/name, return the full path (static buffer per call: copy it). */
void h_write_file(const char *path, const char *text);
char *h_read_file(const char *path, size_t *len);

/* Configuration text for a daemon on d->port: the [server] section is written by the harness
 * (listen, workers) and extra is appended verbatim (more sections or keys). */
void h_daemon_init(struct h_daemon *d);
void h_daemon_write_conf(struct h_daemon *d, int workers, const char *extra);
/* Start sluiced -c d->conf with stderr to d->log; envp_extra: NULL or "K=V" strings ending
 * with NULL. Waits until the port accepts (5 s), asserting it does. */
void h_daemon_start(struct h_daemon *d, const char *const *env_extra);
pid_t h_daemon_spawn(struct h_daemon *d, const char *const *env_extra);
/* SIGTERM, wait up to timeout_ms; returns the exit status, or -1 on a timeout (then killed). */
int h_daemon_stop(struct h_daemon *d, int timeout_ms);
void h_assert_no_sanitizer_reports(const char *log);
/* waitpid with a timeout: exit status, 128+signal, or -1 on timeout. */
int h_wait_exit(pid_t pid, int timeout_ms);
bool h_port_accepts(int port);
void h_sleep_ms(int ms);
long long h_now_ms(void);

/* Children of pid (the workers of a master), up to max; returns how many. */
int h_children(pid_t pid, pid_t *out, int max);
/* Wait until the master has n children that all accept (slots READY is not visible; we wait
 * for n children and the port accepting). */
int h_wait_children(pid_t pid, int n, pid_t *out, int timeout_ms);

/* One HTTP request with libcurl; headers is a NULL-terminated list of "Name: value". */
int h_http(int port, const char *method, const char *path, const char *const *headers,
           const char *body, size_t body_len, struct h_resp *out);
int h_http_unix(const char *sock, const char *method, const char *path, struct h_resp *out);
/* Value of a response header (case-insensitive name), copied into a static buffer. */
const char *h_header(const struct h_resp *r, const char *name);
void h_resp_free(struct h_resp *r);

/* Raw TCP connection to 127.0.0.1:port (blocking), -1 on failure. */
int h_connect(int port);
/* Read from fd until EOF or timeout; returns malloc'd NUL-terminated data. */
char *h_read_all(int fd, int timeout_ms, size_t *len);

/* The value of one sample of GET /metrics on port (name with its labels, exactly as
 * exposed), or -1 when absent. */
double h_metric(int port, const char *sample);

/* Count log lines in d->log containing every one of the given substrings (NULL-ended). */
int h_log_count(const struct h_daemon *d, const char *const *needles);
/* The same count, polled until it reaches want or timeout_ms passes: a worker writes a
 * request's log line after the reply (or the upstream's close) the test already saw. */
int h_log_wait(const struct h_daemon *d, const char *const *needles, int want, int timeout_ms);
/* Is text (e.g. a key) anywhere in file? */
bool h_file_contains(const char *path, const char *text);

/* Register a pid to SIGKILL when the test process exits (daemons left by a failed test). */
void h_cleanup_pid(pid_t pid);
/* The lowercase hex SHA-256 of key, as key_sha256 lines take it. */
void h_sha256_hex(const char *key, char out[65]);
#endif /* SL_TEST_HARNESS_H */

/* ---- the fake OpenAI upstream (tools/fake-openai) ---- */
#define H_FAKE SL_TEST_BUILDDIR "/tools/fake-openai/sluice-fake-openai"
struct h_fake {
    pid_t pid;
    int port;
    char port_file[300];
};
/* Start the fake on a free port and wait until it listens. */
void h_fake_start(struct h_fake *f);
void h_fake_stop(struct h_fake *f);
/* POST /_fake/script with a JSON array of behaviours. */
void h_fake_script(const struct h_fake *f, const char *json_array);
/* GET /_fake/requests or /_fake/stats, parsed (caller json_decref's). */
struct json_t *h_fake_requests(const struct h_fake *f);
struct json_t *h_fake_stats(const struct h_fake *f);
long h_fake_stat(const struct h_fake *f, const char *name);
/* "[upstream]\nbase_url = http://127.0.0.1:PORT/v1\n" plus extra keys, for h_daemon_write_conf */
const char *h_fake_upstream_conf(const struct h_fake *f, const char *extra_upstream_keys);

/* How many requests the fake has received; the last of them, parsed (caller decref's). */
size_t h_fake_count(const struct h_fake *f);
struct json_t *h_fake_last(const struct h_fake *f);

/* The tenant's used tokens from the admin API (admin_key in clear), asserting that no
 * reservation is held. */
long long h_tenant_used(int port, const char *admin_key, const char *tenant);

/* n identical requests at once (curl multi); statuses[i] set, 0 = transport error. */
void h_http_parallel(int port, const char *method, const char *path, const char *const *headers,
                     const char *body, int n, long *statuses);
