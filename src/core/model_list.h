/* SPDX-License-Identifier: MIT */
/* model_list.h - a tenant's models (SPEC §10): "models = a, b" in a [tenant.NAME] section or
 * through the admin API, kept as one canonical string "a,b" (no blanks, no duplicates, file
 * order) so that it fits a fixed shared-memory record.  "" means every configured model.
 * Pure: no I/O. */
#ifndef SL_MODEL_LIST_H
#define SL_MODEL_LIST_H
#include <stdbool.h>
#include <stddef.h>

struct sl_config;

/* May a tenant whose list is `list` use `model`?  "" allows every model; otherwise model must
 * be one of the list's names exactly.  (Whether the model is configured at all is
 * sl_config_model()'s question.) */
bool sl_model_list_allows(const char *list, const char *model);

/* Canonicalize a comma-separated list (blanks around names ignored, empty items refused) into
 * out[SL_MODEL_LIST_MAX].  When cfg is not NULL every name must be one of its models.
 * 0; -EINVAL with a one-line reason in err (naming the offending model, bounded and
 * printable); -E2BIG when the canonical list does not fit. */
int sl_model_list_parse(const char *in, const struct sl_config *cfg, char *out, char *err,
                        size_t err_size);
#endif /* SL_MODEL_LIST_H */
