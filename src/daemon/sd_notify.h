/* SPDX-License-Identifier: MIT */
/* sd_notify.h - systemd's notify protocol, spoken directly (a datagram to $NOTIFY_SOCKET) so
 * sluice needs no libsystemd.  Only the master notifies (NotifyAccess=main).  Every call is a
 * no-op when sluice was not started by systemd. */
#ifndef SL_SD_NOTIFY_H
#define SL_SD_NOTIFY_H
#include <stdint.h>

int sl_notify(const char *state);
int sl_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval in ms that systemd expects WATCHDOG=1 within, or 0 when off. */
uint64_t sl_notify_watchdog_ms(void);
#endif /* SL_SD_NOTIFY_H */
