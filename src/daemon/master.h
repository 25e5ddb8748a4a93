/* SPDX-License-Identifier: MIT */
/* master.h - the supervising process.  It owns the configuration, the listening sockets and
 * the shared-memory region; it forks workers and replaces the ones that die, reloads on SIGHUP
 * by starting a new generation before draining the old one, stops gracefully on SIGTERM or
 * SIGINT, and speaks systemd's notify protocol.  It never serves a request. */
#ifndef SL_MASTER_H
#define SL_MASTER_H

struct sl_config;

/* Takes ownership of cfg and api_key (sl_secret_free'd; NULL for a local upstream without
 * one).  Returns the process exit status. */
int sl_master_run(struct sl_config *cfg, const char *cfg_path, char *api_key);
/* Load the upstream key that cfg asks for; log why when it cannot.  0, or -errno when the
 * daemon must not start (or reload) with cfg. */
int sl_master_load_key(const struct sl_config *cfg, char **api_key);
#endif /* SL_MASTER_H */
