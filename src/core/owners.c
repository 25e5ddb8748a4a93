/* SPDX-License-Identifier: MIT */
/* Response ownership: entry slots threaded in FIFO order, found through a linear-probing
 * hash index; all links are indexes, so the bytes mean the same at any address. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/owners.h"

#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CAPACITY_MAX (UINT32_C(1) << 24)
#define NONE UINT32_MAX /* no entry: the end of a list */

/* One recorded response: the caller's record and its neighbours in insertion order (prev is
 * older, next newer; next also links the free list). */
struct entry {
    struct sl_owner o;
    uint32_t prev;
    uint32_t next;
};

/* One index slot.  entry is the entry's index + 1, 0 for an empty slot.  hash is the low 32
 * bits of the id's hash: it gives the slot's home (hash & mask, as the index has at most 2^25
 * slots) for the backward shift, and settles most mismatches without reading the entry. */
struct slot {
    uint32_t entry;
    uint32_t hash;
};

struct sl_owner_table {
    uint32_t capacity;
    uint32_t mask;          /* index slots - 1 */
    uint32_t count;         /* entries in the FIFO */
    uint32_t head;          /* oldest entry, NONE when empty */
    uint32_t tail;          /* newest entry, NONE when empty */
    uint32_t free_head;     /* entries released by drop(), reused first */
    uint32_t unused;        /* entries [unused, capacity) were never handed out */
    uint32_t reserved;      /* keeps entries 8-aligned */
    struct entry entries[]; /* capacity of them, then (mask + 1) struct slot */
};

_Static_assert(sizeof(struct sl_owner_table) % alignof(struct entry) == 0, "entries aligned");
_Static_assert(sizeof(struct entry) % alignof(struct slot) == 0, "index aligned");
_Static_assert(alignof(struct sl_owner_table) <= 8, "8-aligned memory suffices");

/* Twice the capacity or more keeps the load at or under one half, so linear probing stays
 * short and an empty slot always ends a probe. */
static uint32_t index_slots(uint32_t capacity)
{
    uint32_t slots = 2;

    while (slots < 2 * capacity)
        slots <<= 1;
    return slots;
}

size_t sl_owner_table_size(uint32_t capacity)
{
    size_t entries, slots, size = sizeof(struct sl_owner_table);

    if (capacity < 1 || capacity > CAPACITY_MAX)
        return 0;
    /* 2^24 entries take about 4 GiB: more than a 32-bit size_t holds. */
    if (__builtin_mul_overflow((size_t)capacity, sizeof(struct entry), &entries) ||
        __builtin_mul_overflow((size_t)index_slots(capacity), sizeof(struct slot), &slots) ||
        __builtin_add_overflow(size, entries, &size) || __builtin_add_overflow(size, slots, &size))
        return 0;
    return size;
}

static const struct slot *index_of(const struct sl_owner_table *t)
{
    return (const struct slot *)(t->entries + t->capacity);
}

static struct slot *index_mut(struct sl_owner_table *t)
{
    return (struct slot *)(t->entries + t->capacity);
}

struct sl_owner_table *sl_owner_table_init(void *mem, uint32_t capacity)
{
    struct sl_owner_table *t = mem;

    if (!mem || (uintptr_t)mem % 8 != 0 || sl_owner_table_size(capacity) == 0)
        return NULL;
    *t = (struct sl_owner_table){ .capacity = capacity,
                                  .mask = index_slots(capacity) - 1,
                                  .head = NONE,
                                  .tail = NONE,
                                  .free_head = NONE };
    memset(index_mut(t), 0, (size_t)(t->mask + 1) * sizeof(struct slot));
    return t;
}

/* The id's length when it is well-formed, else 0.  Reads at most SL_RESPONSE_ID_MAX + 1
 * bytes, so an unterminated or overlong string is refused without running past its array. */
static size_t id_length(const char *id)
{
    size_t len;

    if (!id)
        return 0;
    len = strnlen(id, SL_RESPONSE_ID_MAX + 1);
    return sl_response_id_valid(id, len) ? len : 0;
}

static bool name_valid(const char *name)
{
    size_t len = strnlen(name, SL_OWNER_NAME_MAX);

    return len > 0 && len < SL_OWNER_NAME_MAX;
}

/* FNV-1a over the bytes, then a multiply-xorshift finish so that the low bits, which pick the
 * home slot, depend on every byte (ids share a long common prefix). */
static uint64_t id_hash(const char *id, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

/* The slot holding id, or (when id is absent) the empty slot that ends its probe; *found says
 * which.  The bound on steps only matters for a corrupted table: a sound one always has an
 * empty slot, as the load stays at or under one half. */
static uint32_t probe(const struct sl_owner_table *t, const char *id, uint32_t hash, bool *found)
{
    const struct slot *index = index_of(t);
    uint32_t pos = hash & t->mask, steps;

    for (steps = 0; steps <= t->mask; steps++, pos = (pos + 1) & t->mask) {
        const struct slot *s = &index[pos];
        if (s->entry == 0)
            break;
        if (s->hash == hash && s->entry <= t->capacity &&
            strcmp(t->entries[s->entry - 1].o.id, id) == 0) {
            *found = true;
            return pos;
        }
    }
    *found = false;
    return pos;
}

/* Backward-shift deletion: later slots of the same probe run move up into the hole, so no
 * tombstones accumulate and a lookup never walks past dead slots. */
static void index_remove(struct sl_owner_table *t, uint32_t hole)
{
    struct slot *index = index_mut(t);
    uint32_t pos = hole, steps;

    for (steps = 0; steps < t->mask; steps++) {
        uint32_t home;
        pos = (pos + 1) & t->mask;
        if (index[pos].entry == 0)
            break;
        home = index[pos].hash & t->mask;
        /* It may move to the hole when the hole lies on its path from home to pos. */
        if (((pos - home) & t->mask) >= ((pos - hole) & t->mask)) {
            index[hole] = index[pos];
            hole = pos;
        }
    }
    index[hole] = (struct slot){ 0 };
}

static void unlink_entry(struct sl_owner_table *t, uint32_t e)
{
    struct entry *x = &t->entries[e];

    if (x->prev == NONE)
        t->head = x->next;
    else
        t->entries[x->prev].next = x->next;
    if (x->next == NONE)
        t->tail = x->prev;
    else
        t->entries[x->next].prev = x->prev;
    t->count--;
}

static void link_back(struct sl_owner_table *t, uint32_t e)
{
    struct entry *x = &t->entries[e];

    x->prev = t->tail;
    x->next = NONE;
    if (t->tail == NONE)
        t->head = e;
    else
        t->entries[t->tail].next = e;
    t->tail = e;
    t->count++;
}

/* Take entry e (whose index slot is pos) out of the index and the FIFO; its storage is the
 * caller's to reuse or release. */
static void remove_entry(struct sl_owner_table *t, uint32_t e, uint32_t pos)
{
    index_remove(t, pos);
    unlink_entry(t, e);
}

static void release(struct sl_owner_table *t, uint32_t e)
{
    t->entries[e].next = t->free_head;
    t->free_head = e;
}

/* Storage for a new entry: a released one, a never-used one, or else the oldest entry's,
 * which the table forgets (expired or not). */
static uint32_t take_storage(struct sl_owner_table *t)
{
    uint32_t e = t->free_head;
    bool found;
    const struct sl_owner *oldest;
    uint32_t pos;

    if (e != NONE) {
        t->free_head = t->entries[e].next;
        return e;
    }
    if (t->unused < t->capacity)
        return t->unused++;
    e = t->head;
    oldest = &t->entries[e].o;
    pos = probe(t, oldest->id, (uint32_t)id_hash(oldest->id, strlen(oldest->id)), &found);
    remove_entry(t, e, pos);
    return e;
}

/* Stores o with zeroed padding, so that no stale bytes of an earlier entry linger. */
static void store(struct entry *x, const struct sl_owner *o)
{
    memset(&x->o, 0, sizeof(x->o));
    memcpy(x->o.id, o->id, strlen(o->id));
    memcpy(x->o.tenant, o->tenant, strlen(o->tenant));
    memcpy(x->o.upstream, o->upstream, strlen(o->upstream));
    x->o.expires_s = o->expires_s;
}

static void insert_new(struct sl_owner_table *t, const struct sl_owner *o, uint32_t hash)
{
    uint32_t e = take_storage(t), pos;
    bool found;

    /* Probe again: the eviction may have shifted the probe run this id belongs to. */
    pos = probe(t, o->id, hash, &found);
    index_mut(t)[pos] = (struct slot){ .entry = e + 1, .hash = hash };
    store(&t->entries[e], o);
    link_back(t, e);
}

int sl_owner_put(struct sl_owner_table *t, const struct sl_owner *o, int64_t now_s)
{
    size_t len = o ? id_length(o->id) : 0;
    uint32_t hash, pos, e;
    bool found;

    if (len == 0 || !name_valid(o->tenant) || !name_valid(o->upstream))
        return -EINVAL;
    hash = (uint32_t)id_hash(o->id, len);
    pos = probe(t, o->id, hash, &found);
    e = found ? index_of(t)[pos].entry - 1 : NONE;
    if (o->expires_s <= now_s) {
        if (found) {
            remove_entry(t, e, pos);
            release(t, e);
        }
        return 0;
    }
    if (!found) {
        insert_new(t, o, hash);
        return 0;
    }
    unlink_entry(t, e);
    store(&t->entries[e], o);
    link_back(t, e);
    return 0;
}

/* The index slot of id, or NONE when id is malformed or absent. */
static uint32_t lookup(const struct sl_owner_table *t, const char *id)
{
    size_t len = id_length(id);
    uint32_t pos;
    bool found;

    if (len == 0)
        return NONE;
    pos = probe(t, id, (uint32_t)id_hash(id, len), &found);
    return found ? pos : NONE;
}

int sl_owner_get(const struct sl_owner_table *t, const char *id, int64_t now_s,
                 struct sl_owner *out)
{
    uint32_t pos = lookup(t, id);
    const struct sl_owner *o;

    if (pos == NONE)
        return -ENOENT;
    o = &t->entries[index_of(t)[pos].entry - 1].o;
    if (o->expires_s <= now_s)
        return -ENOENT;
    *out = *o;
    return 0;
}

int sl_owner_drop(struct sl_owner_table *t, const char *id)
{
    uint32_t pos = lookup(t, id), e;

    if (pos == NONE)
        return -ENOENT;
    e = index_of(t)[pos].entry - 1;
    remove_entry(t, e, pos);
    release(t, e);
    return 0;
}

uint32_t sl_owner_count(const struct sl_owner_table *t)
{
    return t->count;
}
