/* SPDX-License-Identifier: MIT */
/* test_chunk_watch.c - trailer fields never join a request's headers (http/chunk_watch.c):
 * the head section's end is marked, and whatever a stock libevent adds after it (fields, or
 * a blank-led line that extends the last field) goes again.  The input-buffer side is
 * tested through the daemon (tests/integration/test_chunked.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <criterion/criterion.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http/chunk_watch.h"

static struct evkeyvalq h;

static void setup(void)
{
    TAILQ_INIT(&h);
    evhttp_add_header(&h, "Host", "t");
    evhttp_add_header(&h, "Transfer-Encoding", "chunked");
    evhttp_add_header(&h, "X-Request-ID", "head-id");
}

static void teardown(void)
{
    evhttp_clear_headers(&h);
}

TestSuite(head_end, .init = setup, .fini = teardown);

static int count(void)
{
    struct evkeyval *kv;
    int n = 0;

    TAILQ_FOREACH(kv, &h, next)
    n++;
    return n;
}

Test(head_end, trailer_fields_are_removed)
{
    struct sl_head_end e;

    sl_head_end_mark(&e, &h);
    /* What evhttp_parse_headers_() does with "Authorization: ..." in a trailer. */
    evhttp_add_header(&h, "Authorization", "Bearer from-the-trailer");
    evhttp_add_header(&h, "X-Request-ID", "trailer-id");
    cr_assert_eq(count(), 5);
    sl_head_end_restore(&e, &h);
    cr_assert_eq(count(), 3);
    cr_assert_null(evhttp_find_header(&h, "Authorization"));
    cr_assert_str_eq(evhttp_find_header(&h, "X-Request-ID"), "head-id");
    cr_assert_str_eq(evhttp_find_header(&h, "Transfer-Encoding"), "chunked");
}

Test(head_end, a_folded_trailer_line_leaves_the_last_field)
{
    struct sl_head_end e;
    struct evkeyval *last;
    char *grown;

    sl_head_end_mark(&e, &h);
    /* A trailer line that starts with a blank: a stock libevent appends " rest" to the last
     * field of the head. */
    last = TAILQ_LAST(&h, evkeyvalq);
    grown = realloc(last->value, 64);
    cr_assert_not_null(grown);
    strcat(grown, " smuggled");
    last->value = grown;
    evhttp_add_header(&h, "X-Trailer", "1");
    sl_head_end_restore(&e, &h);
    cr_assert_str_eq(evhttp_find_header(&h, "X-Request-ID"), "head-id");
    cr_assert_eq(count(), 3);
}

Test(head_end, nothing_added_changes_nothing)
{
    struct sl_head_end e;

    sl_head_end_mark(&e, &h);
    sl_head_end_restore(&e, &h);
    cr_assert_eq(count(), 3);
    cr_assert_str_eq(evhttp_find_header(&h, "X-Request-ID"), "head-id");
}

Test(head_end, a_mark_of_another_list_changes_nothing)
{
    struct evkeyvalq other;
    struct sl_head_end e;

    TAILQ_INIT(&other);
    evhttp_add_header(&other, "A", "1");
    sl_head_end_mark(&e, &other);
    evhttp_add_header(&h, "X-Trailer", "1");
    sl_head_end_restore(&e, &h);
    cr_assert_eq(count(), 4);
    cr_assert_str_eq(evhttp_find_header(&other, "A"), "1");
    evhttp_clear_headers(&other);
}
