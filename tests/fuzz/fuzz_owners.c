/* SPDX-License-Identifier: MIT */
/* fuzz_owners.c - libFuzzer target: the input as a sequence of put, get, drop and clock steps
 * on a small response ownership table, each checked against a plain reference model (an
 * array, oldest first); any disagreement, in a result, a returned record or the count, aborts.
 *
 * Input: byte 0 picks the capacity (1..8), then one operation after another:
 *   op byte:   low 2 bits: 0 put, 1 get, 2 drop, 3 advance the clock by the next byte
 *   id byte:   below 0xf0, one of 24 well-formed ids (so ids repeat and collide); else a raw
 *              id: a length byte (0..127) and that many bytes, as they come (NUL included)
 *   put only:  a names byte (tenant and upstream out of a few, one of them empty) and an expiry
 *              byte (now - 16 .. now + 239) */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/owners.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAPACITY_MAX 8
#define RAW_MAX 127
#define POOL 24
#define START INT64_C(1773500966)

struct input {
    const uint8_t *p;
    size_t left;
};

struct model {
    uint32_t capacity;
    uint32_t n;
    struct sl_owner e[CAPACITY_MAX]; /* oldest first */
};

static const char *const names[] = { "alpha", "beta", "", "default", "azure-east" };

static uint64_t memory[4096]; /* 8-aligned, and far more than a table of 8 takes */

static uint8_t next(struct input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

/* The contract's id rule, written out again here: "resp_" and 1..SL_RESPONSE_ID_MAX-5 of
 * A-Z a-z 0-9 _ -, read up to its NUL. */
static bool id_ok(const char *id, size_t field)
{
    size_t len = strnlen(id, field), i;

    if (len < 6 || len > SL_RESPONSE_ID_MAX || strncmp(id, "resp_", 5) != 0)
        return false;
    for (i = 5; i < len; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", id[i]))
            return false;
    return true;
}

/* Reads an id into buf (NUL-terminated when the bytes leave room; buf holds RAW_MAX + 1). */
static void read_id(struct input *in, char *buf)
{
    uint8_t pick = next(in);
    size_t len, i;

    memset(buf, 0, RAW_MAX + 1);
    if (pick < 0xf0) {
        snprintf(buf, RAW_MAX + 1, "resp_%c%d", 'a' + pick % POOL, pick % 3);
        return;
    }
    len = next(in) % (RAW_MAX + 1);
    for (i = 0; i < len; i++)
        buf[i] = (char)next(in);
}

static int model_find(const struct model *m, const char *id)
{
    uint32_t i;

    for (i = 0; i < m->n; i++)
        if (strcmp(m->e[i].id, id) == 0)
            return (int)i;
    return -1;
}

static void model_remove(struct model *m, int i)
{
    memmove(&m->e[i], &m->e[i + 1], (m->n - (uint32_t)i - 1) * sizeof(m->e[0]));
    m->n--;
}

static void model_put(struct model *m, const struct sl_owner *o, int64_t now)
{
    int i = model_find(m, o->id);

    if (i >= 0)
        model_remove(m, i);
    if (o->expires_s <= now)
        return;
    if (m->n == m->capacity)
        model_remove(m, 0);
    m->e[m->n++] = *o;
}

static void do_put(struct sl_owner_table *t, struct model *m, struct input *in, int64_t now)
{
    char raw[RAW_MAX + 1];
    struct sl_owner o;
    uint8_t pick;
    bool ok;

    read_id(in, raw);
    pick = next(in);
    memset(&o, 0, sizeof(o));
    memcpy(o.id, raw, sizeof(o.id)); /* a raw id may fill the field without a NUL */
    strcpy(o.tenant, names[pick % 5]);
    strcpy(o.upstream, names[(pick / 5) % 5]);
    o.expires_s = now - 16 + next(in);
    ok = id_ok(o.id, sizeof(o.id)) && o.tenant[0] && o.upstream[0];
    if (sl_owner_put(t, &o, now) != (ok ? 0 : -EINVAL))
        abort();
    if (ok)
        model_put(m, &o, now);
}

static bool same(const struct sl_owner *a, const struct sl_owner *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->tenant, b->tenant) == 0 &&
           strcmp(a->upstream, b->upstream) == 0 && a->expires_s == b->expires_s;
}

static void check_get(const struct sl_owner_table *t, const struct model *m, const char *id,
                      int64_t now)
{
    int i = id_ok(id, RAW_MAX + 1) ? model_find(m, id) : -1;
    bool live = i >= 0 && m->e[i].expires_s > now;
    struct sl_owner out;
    int rc = sl_owner_get(t, id, now, &out);

    if (rc != (live ? 0 : -ENOENT) || (live && !same(&out, &m->e[i])))
        abort();
}

static void do_drop(struct sl_owner_table *t, struct model *m, const char *id)
{
    int i = id_ok(id, RAW_MAX + 1) ? model_find(m, id) : -1;

    if (sl_owner_drop(t, id) != (i >= 0 ? 0 : -ENOENT))
        abort();
    if (i >= 0)
        model_remove(m, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size };
    struct model m = { .capacity = 1 + next(&in) % CAPACITY_MAX };
    struct sl_owner_table *t;
    int64_t now = START;
    char id[RAW_MAX + 1];
    uint32_t i;

    if (sl_owner_table_size(m.capacity) > sizeof(memory))
        abort();
    t = sl_owner_table_init(memory, m.capacity);
    while (in.left > 0) {
        uint8_t op = next(&in) & 3;
        if (op == 0) {
            do_put(t, &m, &in, now);
        } else if (op == 3) {
            now += next(&in);
        } else {
            read_id(&in, id);
            if (op == 1)
                check_get(t, &m, id, now);
            else
                do_drop(t, &m, id);
        }
        if (sl_owner_count(t) != m.n)
            abort();
    }
    for (i = 0; i < m.n; i++)
        check_get(t, &m, m.e[i].id, now);
    return 0;
}
