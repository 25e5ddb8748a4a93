/* SPDX-License-Identifier: MIT */
/* models.c - GET /v1/models and GET /v1/models/{model} (SPEC §10), answered by the gateway
 * from the configured models this tenant may use, in OpenAI's list and object shapes.  No
 * upstream call; the tenant's key and RPM still apply (admission reserves no tokens and skips
 * the breaker and the in-flight cap, which guard the upstream). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/models.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "core/config.h"
#include "core/json_write.h"
#include "admission/budget.h"
#include "admission/tenants.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/admit.h"

#define PREFIX "/v1/models"
#define LIST_MAX (1u << 20)

struct models_req {
    struct sl_admission admit;
    char *id; /* the model asked for, decoded; NULL for the list */
};

static void models_stop(void *p)
{
    struct models_req *m = p;

    sl_admit_cancel(&m->admit);
    if (m->admit.resv >= 0) /* nothing was spent */
        sl_budget_settle(m->admit.r->serve->budget, m->admit.resv, 0);
    m->admit.resv = -1;
}

static void models_free(void *p)
{
    struct models_req *m = p;

    free(m->id);
    free(m);
}

/* The model's object: the gateway cannot know when a model was made, so created is 0. */
static void write_model(struct sl_json_out *o, const char *name)
{
    SL_JSON_OUT_LIT(o, "{\"id\":");
    sl_json_out_str(o, name, strlen(name));
    SL_JSON_OUT_LIT(o, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"system\"}");
}

static bool usable(struct sl_req *r, const char *name)
{
    return sl_config_model(r->serve->cfg, name) &&
           sl_tenants_model_allowed(r->serve->tenants, r->tenant_idx, name);
}

static void reply_json(struct sl_req *r, struct sl_json_out *o)
{
    size_t len;
    char *body = sl_json_out_take(o, &len);

    if (!body) {
        sl_req_reply_busy(r, true);
        return;
    }
    sl_req_reply(r, 200, "application/json", body, len);
    free(body);
}

static void reply_list(struct sl_req *r)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct sl_json_out o;
    bool first = true;
    size_t i;

    sl_json_out_init(&o, LIST_MAX);
    SL_JSON_OUT_LIT(&o, "{\"object\":\"list\",\"data\":[");
    for (i = 0; i < cfg->nmodels; i++) {
        if (!usable(r, cfg->models[i].name))
            continue;
        if (!first)
            SL_JSON_OUT_LIT(&o, ",");
        first = false;
        write_model(&o, cfg->models[i].name);
    }
    SL_JSON_OUT_LIT(&o, "]}");
    reply_json(r, &o);
}

static void reply_one(struct sl_req *r, const char *id)
{
    struct sl_json_out o;

    if (!usable(r, id)) {
        sl_req_reply_openai_error(r, 404,
                                  "The model does not exist or you do not have access to it.",
                                  "invalid_request_error", "model", "model_not_found");
        return;
    }
    sl_json_out_init(&o, LIST_MAX);
    write_model(&o, id);
    reply_json(r, &o);
}

static void on_admitted(void *arg)
{
    struct models_req *m = arg;
    struct sl_req *r = m->admit.r;

    if (m->id)
        reply_one(r, m->id);
    else
        reply_list(r);
    sl_req_free(r);
}

void sl_route_v1_models(struct sl_req *r)
{
    const char *path = sl_req_path(r);
    struct models_req *m = calloc(1, sizeof(*m));

    if (!m || (path[strlen(PREFIX)] == '/' &&
               !(m->id = evhttp_uridecode(path + strlen(PREFIX) + 1, 0, NULL)))) {
        free(m);
        sl_req_reply_busy(r, true);
        sl_req_free(r);
        return;
    }
    r->ctx = m;
    r->ctx_stop = models_stop;
    r->ctx_free = models_free;
    m->admit = (struct sl_admission){
        .r = r, .openai = true, .admitted = on_admitted, .arg = m, .resv = -1, .no_upstream = true
    };
    if (sl_admit_identify(r, true))
        sl_admit(&m->admit);
}
