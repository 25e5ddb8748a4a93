/* SPDX-License-Identifier: MIT */
/* admin.h - the admin API under /admin/v1/ (SPEC §3.4, §8): tenants, keys, limits, usage.
 * Only with `Authorization: Bearer <admin key>` ([admin] key_sha256); disabled (403) when no
 * admin key is configured.  sluicectl is its command-line client; docs/sluicectl.md lists
 * the endpoints.  New keys are shown once, in the creating response, and stored as SHA-256. */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H
#include <stdbool.h>

struct sl_req;

bool sl_admin_path(const char *path);
void sl_admin_handle(struct sl_req *r, const char *path);
#endif /* SL_ADMIN_H */
