/*
 * example.c: every function of the sutra-cache C ABI, success and error paths.
 * Build and run: scripts/test-c.sh (gcc against include/sutra_cache.h and the library,
 * under valgrind memcheck). Usage: example DATA_DIR (an empty directory for the durable part).
 * Exits 0 when every check holds, 1 on the first one that fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sutra_cache.h"

static int checks = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* A call that must succeed; prints the error object when it does not. */
#define OK(call)                                                                  \
    do {                                                                          \
        int32_t s_ = (call);                                                      \
        checks++;                                                                 \
        if (s_ != SUTRA_OK) {                                                     \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,   \
                    sutra_status_name(s_), err.message);                          \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

#define KEY(s) (const uint8_t *)(s), strlen(s)

/* ---- search results written straight into the caller's buffers ---- */

/* Element i's name: "e<i>-" and (37·i mod 300) letters, so lengths differ from hit to hit. */
static void name_of(size_t i, char *out, size_t *len) {
    int n = snprintf(out, 24, "e%zu-", i);
    size_t pad = (i * 37) % 300;
    memset(out + n, 'a' + (int)(i % 26), pad);
    *len = (size_t)n + pad;
}

/* The hits are the elements `want` (best first): counts, names packed in hit order, scores
 * best first. */
static void check_hits(const sutra_search_hit *hits, const uint8_t *names, size_t hit_count,
                       size_t names_len, const size_t *want, size_t n_want) {
    CHECK(hit_count == n_want);
    size_t off = 0;
    for (size_t j = 0; j < n_want; j++) {
        char name[400];
        size_t len = 0;
        name_of(want[j], name, &len);
        CHECK(hits[j].name_offset == off && hits[j].name_len == len);
        CHECK(memcmp(names + off, name, len) == 0);
        CHECK(j == 0 || hits[j].score <= hits[j - 1].score);
        off += len;
    }
    CHECK(names_len == off);
}

/* Every search call's hit buffers have exactly the capacity passed (on the heap, so valgrind
 * sees a write past one): results that fill them exactly, too few hits, a names buffer one
 * byte short, a sizing call with none, k above the set's size, names of many lengths, and
 * elements removed after indexing (stale in the graph, then gone from it). */
static void search_into_exact_buffers(void) {
    enum { N = 1200, K = 8 };
    sutra_error err;
    sutra_options opts;
    sutra_options_init(&opts);
    opts.active_expire_interval_ms = 0;
    sutra_cache *cache = NULL;
    OK(sutra_cache_open(NULL, &opts, &cache, &err));
    /* Element i is (1, i/64, 0, 0): its cosine to the query (1, 0, 0, 0) falls with i, and
     * the elements nearest element 1 are those after it. N elements give the set a graph. */
    char *name_store = malloc((size_t)N * 400);
    const uint8_t **names = malloc(N * sizeof *names);
    size_t *lens = malloc(N * sizeof *lens);
    float *rows = malloc((size_t)N * 4 * sizeof *rows);
    CHECK(name_store && names && lens && rows);
    for (size_t i = 0; i < N; i++) {
        name_of(i, name_store + i * 400, &lens[i]);
        names[i] = (const uint8_t *)(name_store + i * 400);
        rows[4 * i] = 1;
        rows[4 * i + 1] = (float)i / 64; /* exact in float */
        rows[4 * i + 2] = rows[4 * i + 3] = 0;
    }
    sutra_vector_set_options vopts;
    sutra_vector_set_options_init(&vopts);
    vopts.metric = SUTRA_METRIC_COSINE;
    vopts.storage = SUTRA_STORAGE_EXACT;
    size_t added = 0;
    OK(sutra_vector_add_many(cache, KEY("big"), names, lens, rows, N, 4, SUTRA_TTL_NEVER, &vopts, &added, &err));
    CHECK(added == N);
    OK(sutra_vector_index_wait(cache, &err));
    /* The query's nearest, 0, 2 and 3, removed: still in the graph until the indexer runs. */
    bool existed = false;
    const size_t gone[3] = {0, 2, 3};
    for (size_t j = 0; j < 3; j++) {
        OK(sutra_vector_remove(cache, KEY("big"), names[gone[j]], lens[gone[j]], &existed, &err));
        CHECK(existed);
    }
    const size_t want[K] = {1, 4, 5, 6, 7, 8, 9, 10};
    size_t total = 0;
    for (size_t j = 0; j < K; j++) total += lens[want[j]];
    const float q[4] = {1, 0, 0, 0};
    sutra_search_params params;
    sutra_search_params_init(&params);
    params.count = K;
    params.ef = 200;
    size_t hit_count = 0, names_len = 0;
    for (int round = 0; round < 2; round++) { /* 0: removed nodes still in the graph; 1: after */
        for (int exhaustive = 0; exhaustive < 2; exhaustive++) {
            params.exhaustive = exhaustive;
            sutra_search_hit *hits = malloc(K * sizeof *hits);
            uint8_t *nb = malloc(total);
            CHECK(hits && nb);
            OK(sutra_vector_search(cache, KEY("big"), q, 4, &params, hits, K, nb, total, &hit_count, &names_len, &err));
            check_hits(hits, nb, hit_count, names_len, want, K);
            /* near element 1 itself: the same elements in the same order */
            memset(hits, 0, K * sizeof *hits);
            OK(sutra_vector_search_element(cache, KEY("big"), names[1], lens[1], &params, hits, K, nb, total,
                                           &hit_count, &names_len, &err));
            check_hits(hits, nb, hit_count, names_len, want, K);
            /* a sizing call: no buffers, the counts of what is needed */
            hit_count = names_len = 0;
            CHECK(sutra_vector_search(cache, KEY("big"), q, 4, &params, NULL, 0, NULL, 0, &hit_count, &names_len,
                                      &err) == SUTRA_BUFFER_TOO_SMALL);
            CHECK(err.code == SUTRA_BUFFER_TOO_SMALL && hit_count == K && names_len == total);
            /* one hit short, then one byte of names short: refused with the counts needed */
            sutra_search_hit *few = malloc((K - 1) * sizeof *few);
            uint8_t *short_nb = malloc(total - 1);
            CHECK(few && short_nb);
            hit_count = names_len = 0;
            CHECK(sutra_vector_search(cache, KEY("big"), q, 4, &params, few, K - 1, nb, total, &hit_count, &names_len,
                                      &err) == SUTRA_BUFFER_TOO_SMALL);
            CHECK(hit_count == K && names_len == total && strstr(err.message, "hits") != NULL);
            hit_count = names_len = 0;
            CHECK(sutra_vector_search(cache, KEY("big"), q, 4, &params, hits, K, short_nb, total - 1, &hit_count,
                                      &names_len, &err) == SUTRA_BUFFER_TOO_SMALL);
            CHECK(hit_count == K && names_len == total && strstr(err.message, "names") != NULL);
            /* and the buffers that fit, after those */
            memset(hits, 0, K * sizeof *hits);
            memset(nb, 0, total);
            OK(sutra_vector_search(cache, KEY("big"), q, 4, &params, hits, K, nb, total, &hit_count, &names_len, &err));
            check_hits(hits, nb, hit_count, names_len, want, K);
            free(few);
            free(short_nb);
            free(hits);
            free(nb);
        }
        OK(sutra_vector_index_wait(cache, &err)); /* the removed nodes leave the graph */
    }
    /* k above the set's size: a set of 5 (no graph), then 4 after a removal */
    OK(sutra_vector_add_many(cache, KEY("small"), names + 20, lens + 20, rows + 4 * 20, 5, 4, SUTRA_TTL_NEVER,
                             &vopts, &added, &err));
    CHECK(added == 5);
    const size_t small_all[5] = {20, 21, 22, 23, 24}, small_left[4] = {20, 21, 23, 24};
    size_t small_total = 0;
    for (size_t j = 0; j < 5; j++) small_total += lens[small_all[j]];
    params.count = 50;
    params.exhaustive = false;
    sutra_search_hit *hits = malloc(5 * sizeof *hits);
    uint8_t *nb = malloc(small_total);
    CHECK(hits && nb);
    OK(sutra_vector_search(cache, KEY("small"), q, 4, &params, hits, 5, nb, small_total, &hit_count, &names_len, &err));
    check_hits(hits, nb, hit_count, names_len, small_all, 5);
    OK(sutra_vector_remove(cache, KEY("small"), names[22], lens[22], &existed, &err));
    CHECK(existed);
    OK(sutra_vector_search(cache, KEY("small"), q, 4, &params, hits, 5, nb, small_total, &hit_count, &names_len, &err));
    check_hits(hits, nb, hit_count, names_len, small_left, 4);
    /* a filtered search writes the same way: no element has attributes, so nothing passes */
    OK(sutra_vector_search_filtered(cache, KEY("small"), q, 4, KEY(".a == 1"), 0, &params, NULL, 0, NULL, 0,
                                    &hit_count, &names_len, &err));
    CHECK(hit_count == 0 && names_len == 0);
    free(hits);
    free(nb);
    free(name_store);
    free(names);
    free(lens);
    free(rows);
    OK(sutra_cache_close(cache, &err));
}

int main(int argc, char **argv) {
    sutra_error err;
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    const char *data_dir = argv[1];
    printf("sutra-cache %s, SIMD ISA %s\n", sutra_version(), sutra_simd_isa());
    CHECK(strlen(sutra_version()) > 0);
    CHECK(strlen(sutra_simd_isa()) > 0);
    CHECK(strcmp(sutra_status_name(SUTRA_NOT_FOUND), "SUTRA_NOT_FOUND") == 0);
    CHECK(strcmp(sutra_status_name(SUTRA_BUFFER_TOO_SMALL), "SUTRA_BUFFER_TOO_SMALL") == 0);
    CHECK(strcmp(sutra_status_name(424242), "SUTRA_UNKNOWN") == 0);

    /* ---- open: bad options, NULL out, then a real cache in memory ---- */
    sutra_options opts;
    sutra_options_init(NULL); /* allowed, does nothing */
    sutra_options_init(&opts);
    CHECK(opts.eviction_policy == SUTRA_EVICTION_LRU);
    CHECK(opts.max_entries == 0);
    opts.eviction_policy = 99;
    sutra_cache *cache = (sutra_cache *)&opts; /* must be reset to NULL on failure */
    CHECK(sutra_cache_open(NULL, &opts, &cache, &err) == SUTRA_INVALID_ARGUMENT);
    CHECK(err.code == SUTRA_INVALID_ARGUMENT && err.message_len > 0);
    CHECK(strstr(err.message, "eviction_policy") != NULL);
    CHECK(cache == NULL);
    CHECK(sutra_cache_open(NULL, NULL, NULL, &err) == SUTRA_NULL_ARGUMENT);
    CHECK(sutra_cache_open(NULL, NULL, NULL, NULL) == SUTRA_NULL_ARGUMENT); /* no error object */
    sutra_options_init(&opts);
    opts.active_expire_interval_ms = 0; /* no background thread */
    OK(sutra_cache_open(NULL, &opts, &cache, &err));
    CHECK(cache != NULL && err.code == SUTRA_OK && err.message_len == 0);

    /* ---- blobs ---- */
    bool written = false, found = false, existed = false;
    OK(sutra_cache_set(cache, KEY("greeting"), KEY("hello world"), SUTRA_TTL_NEVER, 0, &written, &err));
    CHECK(written);
    OK(sutra_cache_set(cache, KEY("greeting"), KEY("ignored"), SUTRA_TTL_DEFAULT, SUTRA_SET_IF_ABSENT, &written, &err));
    CHECK(!written);
    OK(sutra_cache_set(cache, KEY("absent"), KEY("x"), SUTRA_TTL_DEFAULT, SUTRA_SET_IF_PRESENT, NULL, &err));
    CHECK(sutra_cache_set(cache, KEY("k"), KEY("v"), -5, 0, NULL, &err) == SUTRA_INVALID_ARGUMENT);
    CHECK(sutra_cache_set(cache, KEY("k"), KEY("v"), 0, 3, NULL, &err) == SUTRA_INVALID_ARGUMENT);
    CHECK(sutra_cache_set(cache, NULL, 3, KEY("v"), 0, 0, NULL, &err) == SUTRA_NULL_ARGUMENT);
    CHECK(sutra_cache_set(NULL, KEY("k"), KEY("v"), 0, 0, NULL, &err) == SUTRA_NULL_ARGUMENT);

    uint8_t buf[64];
    size_t len = 0;
    OK(sutra_cache_get(cache, KEY("greeting"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 11 && memcmp(buf, "hello world", 11) == 0);
    /* a buffer too small reports the needed length; a NULL buffer with capacity 0 asks for it */
    CHECK(sutra_cache_get(cache, KEY("greeting"), buf, 4, &len, &found, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(found && len == 11 && err.code == SUTRA_BUFFER_TOO_SMALL);
    CHECK(sutra_cache_get(cache, KEY("greeting"), NULL, 0, &len, &found, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(len == 11);
    CHECK(sutra_cache_get(cache, KEY("greeting"), NULL, 8, &len, &found, &err) == SUTRA_NULL_ARGUMENT);
    CHECK(sutra_cache_get(cache, KEY("greeting"), buf, sizeof buf, NULL, &found, &err) == SUTRA_NULL_ARGUMENT);
    CHECK(sutra_cache_get(cache, KEY("greeting"), buf, sizeof buf, &len, NULL, &err) == SUTRA_NULL_ARGUMENT);
    OK(sutra_cache_get(cache, KEY("missing"), buf, sizeof buf, &len, &found, &err));
    CHECK(!found && len == 0);
    /* an empty value is a hit of length 0 */
    OK(sutra_cache_set(cache, KEY("empty"), NULL, 0, SUTRA_TTL_DEFAULT, 0, NULL, &err));
    OK(sutra_cache_get(cache, KEY("empty"), NULL, 0, &len, &found, &err));
    CHECK(found && len == 0);

    /* ---- key expiry ---- */
    int64_t ttl = 0;
    OK(sutra_cache_ttl(cache, KEY("greeting"), &ttl, &err));
    CHECK(ttl == SUTRA_TTL_NO_EXPIRY);
    OK(sutra_cache_ttl(cache, KEY("missing"), &ttl, &err));
    CHECK(ttl == SUTRA_TTL_MISSING);
    OK(sutra_cache_expire(cache, KEY("greeting"), 60000, &existed, &err));
    CHECK(existed);
    OK(sutra_cache_ttl(cache, KEY("greeting"), &ttl, &err));
    CHECK(ttl > 50000 && ttl <= 60000);
    OK(sutra_cache_expire(cache, KEY("missing"), 1000, &existed, &err));
    CHECK(!existed);
    OK(sutra_cache_persist(cache, KEY("greeting"), &existed, &err));
    CHECK(existed);
    OK(sutra_cache_ttl(cache, KEY("greeting"), &ttl, &err));
    CHECK(ttl == SUTRA_TTL_NO_EXPIRY);
    CHECK(sutra_cache_ttl(cache, KEY("greeting"), NULL, &err) == SUTRA_NULL_ARGUMENT);
    /* expire 0 deletes at once */
    OK(sutra_cache_set(cache, KEY("short"), KEY("v"), 1000, 0, NULL, &err));
    OK(sutra_cache_expire(cache, KEY("short"), 0, &existed, &err));
    OK(sutra_cache_get(cache, KEY("short"), buf, sizeof buf, &len, &found, &err));
    CHECK(!found);

    /* ---- vector sets ---- */
    enum { DIM = 4 };
    const float a[DIM] = {1, 0, 0, 0}, b[DIM] = {0.9f, 0.1f, 0, 0}, c[DIM] = {0, 0, 1, 0};
    sutra_vector_set_options vopts;
    sutra_vector_set_options_init(NULL);
    sutra_vector_set_options_init(&vopts);
    vopts.metric = SUTRA_METRIC_COSINE;
    vopts.storage = SUTRA_STORAGE_EXACT;
    bool added = false;
    const char *attrs = "{\"source\":\"wordnet\"}";
    OK(sutra_vector_add(cache, KEY("minilm"), KEY("apple"), a, DIM, (const uint8_t *)attrs, strlen(attrs),
                        SUTRA_TTL_NEVER, &vopts, &added, &err));
    CHECK(added);
    OK(sutra_vector_add(cache, KEY("minilm"), KEY("apple"), a, DIM, NULL, 0, SUTRA_TTL_KEEP, NULL, &added, &err));
    CHECK(!added);
    const uint8_t *names[2] = {(const uint8_t *)"pear", (const uint8_t *)"stone"};
    size_t name_lens[2] = {4, 5};
    float rows[2 * DIM];
    memcpy(rows, b, sizeof b);
    memcpy(rows + DIM, c, sizeof c);
    size_t n_added = 0;
    OK(sutra_vector_add_many(cache, KEY("minilm"), names, name_lens, rows, 2, DIM, SUTRA_TTL_DEFAULT, NULL, &n_added, &err));
    CHECK(n_added == 2);
    /* errors: wrong dimension, NaN, conflicting metric, NULL vector, wrong type, bad JSON */
    const float short_v[3] = {1, 2, 3};
    CHECK(sutra_vector_add(cache, KEY("minilm"), KEY("x"), short_v, 3, NULL, 0, 0, NULL, NULL, &err) == SUTRA_DIMENSION_MISMATCH);
    CHECK(strstr(err.message, "dimension") != NULL);
    const float nan_v[DIM] = {NAN, 0, 0, 0};
    CHECK(sutra_vector_add(cache, KEY("minilm"), KEY("x"), nan_v, DIM, NULL, 0, 0, NULL, NULL, &err) == SUTRA_INVALID_ARGUMENT);
    vopts.metric = SUTRA_METRIC_L2;
    CHECK(sutra_vector_add(cache, KEY("minilm"), KEY("x"), a, DIM, NULL, 0, 0, &vopts, NULL, &err) == SUTRA_CONFLICT);
    vopts.metric = 42;
    CHECK(sutra_vector_add(cache, KEY("minilm"), KEY("x"), a, DIM, NULL, 0, 0, &vopts, NULL, &err) == SUTRA_INVALID_ARGUMENT);
    CHECK(sutra_vector_add(cache, KEY("minilm"), KEY("x"), NULL, DIM, NULL, 0, 0, NULL, NULL, &err) == SUTRA_NULL_ARGUMENT);
    CHECK(sutra_vector_add(cache, KEY("greeting"), KEY("x"), a, DIM, NULL, 0, 0, NULL, NULL, &err) == SUTRA_WRONG_TYPE);
    CHECK(sutra_vector_add(cache, KEY("minilm"), KEY("x"), a, DIM, (const uint8_t *)"\xff\xfe", 2, 0, NULL, NULL, &err) == SUTRA_INVALID_ARGUMENT); /* not UTF-8 */
    CHECK(sutra_vector_add_many(cache, KEY("minilm"), NULL, name_lens, rows, 2, DIM, 0, NULL, NULL, &err) == SUTRA_NULL_ARGUMENT);
    CHECK(sutra_cache_get(cache, KEY("minilm"), buf, sizeof buf, &len, &found, &err) == SUTRA_WRONG_TYPE);

    size_t dim = 0;
    uint64_t card = 0;
    OK(sutra_vector_info(cache, KEY("minilm"), &dim, &card, &err));
    CHECK(dim == DIM && card == 3);
    OK(sutra_vector_info(cache, KEY("nothing"), &dim, &card, &err));
    CHECK(dim == 0 && card == 0);

    float out[DIM];
    OK(sutra_vector_get(cache, KEY("minilm"), KEY("pear"), out, DIM, &dim, &found, &err));
    CHECK(found && dim == DIM && memcmp(out, b, sizeof b) == 0); /* exact mode: the exact floats */
    CHECK(sutra_vector_get(cache, KEY("minilm"), KEY("pear"), out, 2, &dim, &found, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(found && dim == DIM);
    OK(sutra_vector_get(cache, KEY("minilm"), KEY("nope"), out, DIM, &dim, &found, &err));
    CHECK(!found && dim == 0);
    OK(sutra_vector_get(cache, KEY("nothing"), KEY("nope"), out, DIM, &dim, &found, &err));
    CHECK(!found);
    CHECK(sutra_vector_get(cache, KEY("greeting"), KEY("x"), out, DIM, &dim, &found, &err) == SUTRA_WRONG_TYPE);

    const uint8_t *want[3] = {(const uint8_t *)"stone", (const uint8_t *)"nope", (const uint8_t *)"apple"};
    size_t want_lens[3] = {5, 4, 5};
    float many[3 * DIM];
    uint8_t hit_flags[3];
    size_t hits_n = 0;
    OK(sutra_vector_get_many(cache, KEY("minilm"), want, want_lens, 3, many, 3 * DIM, hit_flags, &dim, &hits_n, &err));
    CHECK(dim == DIM && hits_n == 2);
    CHECK(hit_flags[0] == 1 && hit_flags[1] == 0 && hit_flags[2] == 1);
    CHECK(memcmp(many, c, sizeof c) == 0 && memcmp(many + 2 * DIM, a, sizeof a) == 0);
    CHECK(many[DIM] == 0.0f);
    CHECK(sutra_vector_get_many(cache, KEY("minilm"), want, want_lens, 3, many, DIM, hit_flags, &dim, &hits_n, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(dim == DIM);

    /* ---- search ---- */
    sutra_search_params params;
    sutra_search_params_init(NULL);
    sutra_search_params_init(&params);
    CHECK(params.count == 10 && !params.use_min_score);
    params.count = 2;
    sutra_search_hit hits[4];
    uint8_t name_buf[64];
    size_t hit_count = 0, names_len = 0;
    OK(sutra_vector_index_wait(cache, &err)); /* every add so far in the graph */
    CHECK(sutra_vector_index_wait(NULL, &err) == SUTRA_NULL_ARGUMENT);
    OK(sutra_vector_search(cache, KEY("minilm"), a, DIM, &params, hits, 4, name_buf, sizeof name_buf, &hit_count, &names_len, &err));
    CHECK(hit_count == 2);
    CHECK(hits[0].name_len == 5 && memcmp(name_buf + hits[0].name_offset, "apple", 5) == 0);
    CHECK(hits[1].name_len == 4 && memcmp(name_buf + hits[1].name_offset, "pear", 4) == 0);
    CHECK(hits[0].score >= hits[1].score && fabsf(hits[0].score - 1.0f) < 1e-3f);
    CHECK(names_len == 9);
    OK(sutra_vector_search(cache, KEY("minilm"), a, DIM, NULL, hits, 4, name_buf, sizeof name_buf, &hit_count, &names_len, &err));
    CHECK(hit_count == 3);
    params.exhaustive = true;
    params.use_min_score = true;
    params.min_score = 0.5f;
    params.count = 10;
    OK(sutra_vector_search_element(cache, KEY("minilm"), KEY("apple"), &params, hits, 4, name_buf, sizeof name_buf, &hit_count, &names_len, &err));
    CHECK(hit_count == 2); /* stone is orthogonal to apple: score 0 < 0.5 */
    CHECK(sutra_vector_search(cache, KEY("minilm"), a, DIM, NULL, hits, 1, name_buf, sizeof name_buf, &hit_count, &names_len, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(hit_count == 3 && names_len == 14);
    CHECK(sutra_vector_search(cache, KEY("minilm"), a, DIM, NULL, hits, 4, name_buf, 3, &hit_count, &names_len, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(sutra_vector_search(cache, KEY("minilm"), short_v, 3, NULL, hits, 4, name_buf, sizeof name_buf, &hit_count, &names_len, &err) == SUTRA_DIMENSION_MISMATCH);
    OK(sutra_vector_search(cache, KEY("nothing"), a, DIM, NULL, hits, 4, name_buf, sizeof name_buf, &hit_count, &names_len, &err));
    CHECK(hit_count == 0);
    /* A filtered search (Redis's VSIM FILTER language): only apple has attributes. */
    OK(sutra_vector_search_filtered(cache, KEY("minilm"), a, DIM, KEY(".source == 'wordnet'"), 0, NULL, hits, 4,
                                    name_buf, sizeof name_buf, &hit_count, &names_len, &err));
    CHECK(hit_count == 1 && hits[0].name_len == 5 && memcmp(name_buf + hits[0].name_offset, "apple", 5) == 0);
    CHECK(sutra_vector_search_filtered(cache, KEY("minilm"), a, DIM, KEY(".source =="), 0, NULL, hits, 4, name_buf,
                                       sizeof name_buf, &hit_count, &names_len, &err) == SUTRA_INVALID_ARGUMENT);

    /* A batched search: two queries, two hits each, on two threads; row i is hits[i * 2 ..]. */
    float queries[2 * DIM];
    memcpy(queries, a, sizeof a);
    memcpy(queries + DIM, c, sizeof c);
    sutra_search_params_init(&params);
    params.count = 2;
    sutra_search_hit batch[4];
    size_t batch_counts[2] = {9, 9};
    OK(sutra_vector_search_batch(cache, KEY("minilm"), queries, 2, DIM, &params, 2, batch, 4, name_buf,
                                 sizeof name_buf, batch_counts, &names_len, &err));
    CHECK(batch_counts[0] == 2 && batch_counts[1] == 2);
    CHECK(batch[0].name_len == 5 && memcmp(name_buf + batch[0].name_offset, "apple", 5) == 0);
    CHECK(batch[1].name_len == 4 && memcmp(name_buf + batch[1].name_offset, "pear", 4) == 0);
    CHECK(batch[2].name_len == 5 && memcmp(name_buf + batch[2].name_offset, "stone", 5) == 0);
    CHECK(fabsf(batch[2].score - 1.0f) < 1e-3f && names_len == 5 + 4 + 5 + batch[3].name_len);
    /* hits for fewer than n × count, names too small, a bad thread count, a missing key */
    CHECK(sutra_vector_search_batch(cache, KEY("minilm"), queries, 2, DIM, &params, 1, batch, 3, name_buf,
                                    sizeof name_buf, batch_counts, &names_len, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(strstr(err.message, "hits") != NULL);
    CHECK(sutra_vector_search_batch(cache, KEY("minilm"), queries, 2, DIM, &params, 1, batch, 4, name_buf, 4,
                                    batch_counts, &names_len, &err) == SUTRA_BUFFER_TOO_SMALL);
    CHECK(names_len == 5 + 4 + 5 + batch[3].name_len);
    CHECK(sutra_vector_search_batch(cache, KEY("minilm"), queries, 2, DIM, &params, 100000, batch, 4, name_buf,
                                    sizeof name_buf, batch_counts, &names_len, &err) == SUTRA_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "threads") != NULL);
    CHECK(sutra_vector_search_batch(cache, KEY("minilm"), queries, 2, DIM, &params, 1, batch, 4, name_buf,
                                    sizeof name_buf, NULL, &names_len, &err) == SUTRA_NULL_ARGUMENT);
    OK(sutra_vector_search_batch(cache, KEY("nothing"), queries, 2, DIM, &params, 1, batch, 4, name_buf,
                                 sizeof name_buf, batch_counts, &names_len, &err));
    CHECK(batch_counts[0] == 0 && batch_counts[1] == 0 && names_len == 0 && isnan(batch[0].score));

    search_into_exact_buffers(); /* a cache of its own */

    /* ---- element expiry ---- */
    OK(sutra_vector_ttl(cache, KEY("minilm"), KEY("apple"), &ttl, &err));
    CHECK(ttl == SUTRA_TTL_NO_EXPIRY);
    OK(sutra_vector_expire(cache, KEY("minilm"), KEY("apple"), 30000, &existed, &err));
    CHECK(existed);
    OK(sutra_vector_ttl(cache, KEY("minilm"), KEY("apple"), &ttl, &err));
    CHECK(ttl > 20000 && ttl <= 30000);
    OK(sutra_vector_ttl(cache, KEY("minilm"), KEY("nope"), &ttl, &err));
    CHECK(ttl == SUTRA_TTL_MISSING);
    OK(sutra_vector_expire(cache, KEY("minilm"), KEY("nope"), 1000, &existed, &err));
    CHECK(!existed);

    /* ---- statistics ---- */
    sutra_stats st;
    bool set_found = false;
    OK(sutra_vector_stats(cache, KEY("minilm"), &st, &set_found, &err));
    CHECK(set_found && st.entries == 3 && st.hits >= 1 && st.misses >= 1);
    OK(sutra_vector_stats(cache, KEY("nothing"), &st, &set_found, &err));
    CHECK(!set_found && st.entries == 0);
    OK(sutra_cache_stats(cache, &st, &err));
    CHECK(st.keys == 3 && st.vector_sets == 1); /* greeting, empty, minilm */
    CHECK(st.hits > 0 && st.misses > 0);
    CHECK(sutra_cache_stats(cache, NULL, &err) == SUTRA_NULL_ARGUMENT);

    /* ---- invalidate, remove ---- */
    size_t removed = 0;
    OK(sutra_vector_invalidate(cache, KEY("minilm"), a, DIM, 0.9f, &removed, &err));
    CHECK(removed == 2); /* apple (1.0) and pear (0.99) */
    CHECK(sutra_vector_invalidate(cache, KEY("minilm"), a, DIM, NAN, &removed, &err) == SUTRA_INVALID_ARGUMENT);
    OK(sutra_vector_info(cache, KEY("minilm"), &dim, &card, &err));
    CHECK(card == 1);
    OK(sutra_vector_remove(cache, KEY("minilm"), KEY("stone"), &existed, &err));
    CHECK(existed);
    OK(sutra_vector_remove(cache, KEY("minilm"), KEY("stone"), &existed, &err));
    CHECK(!existed);
    OK(sutra_vector_info(cache, KEY("minilm"), &dim, &card, &err)); /* emptied set is deleted */
    CHECK(dim == 0 && card == 0);

    /* ---- delete, flush, checkpoint ---- */
    OK(sutra_cache_del(cache, KEY("greeting"), &existed, &err));
    CHECK(existed);
    OK(sutra_cache_del(cache, KEY("greeting"), &existed, &err));
    CHECK(!existed);
    OK(sutra_cache_flush(cache, &err));
    OK(sutra_cache_get(cache, KEY("empty"), buf, sizeof buf, &len, &found, &err));
    CHECK(!found);
    uint64_t lsn = 0;
    /* a cache in memory only has nothing to snapshot */
    CHECK(sutra_cache_checkpoint(cache, &lsn, &err) == SUTRA_UNSUPPORTED);
    CHECK(sutra_cache_checkpoint(NULL, NULL, &err) == SUTRA_NULL_ARGUMENT);

    /* ---- databases: a handle per database (Redis's SELECT), DBSIZE and FLUSHDB per database ---- */
    uint32_t db = 99, databases = 0;
    OK(sutra_cache_db(cache, &db, &databases, &err));
    CHECK(db == 0 && databases == 16);
    OK(sutra_cache_db(cache, NULL, NULL, &err));
    sutra_cache *db3 = (sutra_cache *)&opts; /* must be reset to NULL on failure */
    CHECK(sutra_cache_select(cache, 16, &db3, &err) == SUTRA_INVALID_ARGUMENT);
    CHECK(db3 == NULL && err.code == SUTRA_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "'db'") != NULL && strstr(err.message, "0..=15") != NULL);
    CHECK(strstr(err.message, "got 16") != NULL);
    CHECK(sutra_cache_select(NULL, 3, &db3, &err) == SUTRA_NULL_ARGUMENT);
    CHECK(sutra_cache_select(cache, 3, NULL, &err) == SUTRA_NULL_ARGUMENT);
    OK(sutra_cache_select(cache, 3, &db3, &err));
    CHECK(db3 != NULL && db3 != cache);
    OK(sutra_cache_db(db3, &db, &databases, &err));
    CHECK(db == 3 && databases == 16);
    uint64_t keys0 = 0, keys = 0;
    OK(sutra_cache_dbsize(cache, &keys0, &err));
    OK(sutra_cache_dbsize(db3, &keys, &err));
    CHECK(keys == 0);
    CHECK(sutra_cache_dbsize(db3, NULL, &err) == SUTRA_NULL_ARGUMENT);
    /* a value written in database 3 is invisible in database 0, and the same key holds one
     * value per database */
    OK(sutra_cache_set(db3, KEY("only-in-3"), KEY("three"), SUTRA_TTL_NEVER, 0, NULL, &err));
    OK(sutra_cache_get(cache, KEY("only-in-3"), buf, sizeof buf, &len, &found, &err));
    CHECK(!found);
    OK(sutra_cache_get(db3, KEY("only-in-3"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 5 && memcmp(buf, "three", 5) == 0);
    OK(sutra_cache_set(cache, KEY("both"), KEY("zero"), SUTRA_TTL_NEVER, 0, NULL, &err));
    OK(sutra_cache_set(db3, KEY("both"), KEY("3"), SUTRA_TTL_NEVER, SUTRA_SET_IF_ABSENT, &written, &err));
    CHECK(written); /* absent in database 3 although database 0 has it */
    OK(sutra_cache_get(cache, KEY("both"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 4 && memcmp(buf, "zero", 4) == 0);
    /* vector sets too */
    OK(sutra_vector_add(db3, KEY("vs3"), KEY("a"), a, DIM, NULL, 0, SUTRA_TTL_NEVER, NULL, NULL, &err));
    OK(sutra_vector_info(cache, KEY("vs3"), &dim, &card, &err));
    CHECK(dim == 0 && card == 0);
    OK(sutra_vector_info(db3, KEY("vs3"), &dim, &card, &err));
    CHECK(dim == DIM && card == 1);
    OK(sutra_cache_dbsize(db3, &keys, &err));
    CHECK(keys == 3);
    OK(sutra_cache_dbsize(cache, &keys, &err));
    CHECK(keys == keys0 + 1);
    /* a handle selected from a selected handle addresses its own database */
    sutra_cache *db5 = NULL;
    OK(sutra_cache_select(db3, 5, &db5, &err));
    OK(sutra_cache_db(db5, &db, NULL, &err));
    CHECK(db == 5);
    OK(sutra_cache_get(db5, KEY("only-in-3"), buf, sizeof buf, &len, &found, &err));
    CHECK(!found);
    OK(sutra_cache_close(db5, &err)); /* frees that handle only */
    /* FLUSHDB empties one database */
    OK(sutra_cache_flushdb(db3, &err));
    OK(sutra_cache_dbsize(db3, &keys, &err));
    CHECK(keys == 0);
    OK(sutra_cache_get(cache, KEY("both"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 4);
    CHECK(sutra_cache_flushdb(NULL, &err) == SUTRA_NULL_ARGUMENT);
    /* FLUSHALL (sutra_cache_flush) empties every database */
    OK(sutra_cache_set(db3, KEY("only-in-3"), KEY("three"), SUTRA_TTL_NEVER, 0, NULL, &err));
    OK(sutra_cache_flush(cache, &err));
    OK(sutra_cache_dbsize(db3, &keys, &err));
    CHECK(keys == 0);
    OK(sutra_cache_dbsize(cache, &keys, &err));
    CHECK(keys == 0);

    /* ---- close: a selected handle, the handle, then NULL ---- */
    OK(sutra_cache_close(db3, &err)); /* the engine stays open */
    OK(sutra_cache_set(cache, KEY("after"), KEY("x"), SUTRA_TTL_NEVER, 0, NULL, &err));
    sutra_cache *late = NULL;
    OK(sutra_cache_select(cache, 7, &late, &err));
    OK(sutra_cache_close(cache, &err));
    /* closing the engine's handle closes the engine: a selected handle then answers CLOSED */
    CHECK(sutra_cache_get(late, KEY("after"), buf, sizeof buf, &len, &found, &err) == SUTRA_CLOSED);
    CHECK(strstr(err.message, "closed") != NULL);
    CHECK(sutra_cache_set(late, KEY("k"), KEY("v"), SUTRA_TTL_NEVER, 0, NULL, &err) == SUTRA_CLOSED);
    CHECK(sutra_cache_select(late, 1, &db3, &err) == SUTRA_CLOSED && db3 == NULL);
    OK(sutra_cache_close(late, &err));
    OK(sutra_cache_close(NULL, &err));
    OK(sutra_cache_close(NULL, NULL));

    /* ---- a durable cache: write, checkpoint, write more, close, reopen, read back ---- */
    sutra_options_init(&opts);
    CHECK(opts.wal_sync_interval_ms == SUTRA_WAL_SYNC_DEFAULT);
    opts.wal_sync_interval_ms = SUTRA_WAL_SYNC_ALWAYS; /* acknowledge after fdatasync */
    opts.active_expire_interval_ms = 0;
    CHECK(opts.checkpoint_on_close);
    opts.wal_sync_interval_ms = -7;
    CHECK(sutra_cache_open(data_dir, &opts, &cache, &err) == SUTRA_INVALID_ARGUMENT);
    opts.wal_sync_interval_ms = SUTRA_WAL_SYNC_ALWAYS;
    opts.checkpoint_on_close = false; /* the tail after the checkpoint comes back from the WAL */
    OK(sutra_cache_open(data_dir, &opts, &cache, &err));
    OK(sutra_cache_set(cache, KEY("durable"), KEY("before checkpoint"), SUTRA_TTL_NEVER, 0, NULL, &err));
    OK(sutra_vector_add(cache, KEY("vs"), KEY("a"), a, DIM, NULL, 0, SUTRA_TTL_NEVER, NULL, NULL, &err));
    OK(sutra_cache_checkpoint(cache, &lsn, &err));
    CHECK(lsn > 0);
    OK(sutra_cache_checkpoint(cache, NULL, &err));
    OK(sutra_cache_set(cache, KEY("tail"), KEY("after checkpoint"), SUTRA_TTL_NEVER, 0, NULL, &err));
    /* database 3: one key before a checkpoint, one after (from the log on reopening) */
    OK(sutra_cache_select(cache, 3, &db3, &err));
    OK(sutra_cache_set(db3, KEY("in3"), KEY("snapshot"), SUTRA_TTL_NEVER, 0, NULL, &err));
    OK(sutra_cache_checkpoint(db3, NULL, &err));
    OK(sutra_cache_set(db3, KEY("in3-tail"), KEY("log"), SUTRA_TTL_NEVER, 0, NULL, &err));
    OK(sutra_cache_close(db3, &err));
    OK(sutra_cache_close(cache, &err));
    cache = NULL;
    OK(sutra_cache_open(data_dir, &opts, &cache, &err));
    OK(sutra_cache_get(cache, KEY("durable"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 17 && memcmp(buf, "before checkpoint", 17) == 0);
    OK(sutra_cache_get(cache, KEY("tail"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 16 && memcmp(buf, "after checkpoint", 16) == 0);
    OK(sutra_vector_get(cache, KEY("vs"), KEY("a"), out, DIM, &dim, &found, &err));
    CHECK(found && memcmp(out, a, sizeof a) == 0);
    OK(sutra_cache_get(cache, KEY("in3"), buf, sizeof buf, &len, &found, &err));
    CHECK(!found); /* database 3's keys came back in database 3, not 0 */
    OK(sutra_cache_select(cache, 3, &db3, &err));
    OK(sutra_cache_get(db3, KEY("in3"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 8 && memcmp(buf, "snapshot", 8) == 0);
    OK(sutra_cache_get(db3, KEY("in3-tail"), buf, sizeof buf, &len, &found, &err));
    CHECK(found && len == 3 && memcmp(buf, "log", 3) == 0);
    OK(sutra_cache_dbsize(db3, &keys, &err));
    CHECK(keys == 2);
    OK(sutra_cache_close(cache, &err)); /* the selected handle may outlive the engine's */
    OK(sutra_cache_close(db3, &err));

    printf("%d checks passed\n", checks);
    return 0;
}
