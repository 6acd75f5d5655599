/*
 * Input for run_gcc.sh: a small but real C program for gcc to compile
 * with and without quarry preloaded (the compiler is the program under
 * test; this file only has to make it work). It has a bit of everything
 * a compiler allocates for: structs, unions, function pointers, a
 * recursive-descent expression evaluator, a hash table, qsort callbacks,
 * inlining candidates, switch tables and loops to vectorise. Its output
 * is deterministic so the two compiled programs can be compared too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- expression evaluator ---- */

typedef struct {
    const char *s;
    size_t pos;
} parser_t;

static long parse_expr(parser_t *p);

static void skip_spaces(parser_t *p)
{
    while (p->s[p->pos] == ' ')
        p->pos++;
}

static long parse_atom(parser_t *p)
{
    skip_spaces(p);
    char c = p->s[p->pos];
    if (c == '(') {
        p->pos++;
        long v = parse_expr(p);
        skip_spaces(p);
        if (p->s[p->pos] == ')')
            p->pos++;
        return v;
    }
    if (c == '-') {
        p->pos++;
        return -parse_atom(p);
    }
    long v = 0;
    while (p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        v = v * 10 + (p->s[p->pos++] - '0');
    return v;
}

static long parse_term(parser_t *p)
{
    long v = parse_atom(p);
    for (;;) {
        skip_spaces(p);
        char op = p->s[p->pos];
        if (op != '*' && op != '/' && op != '%')
            return v;
        p->pos++;
        long r = parse_atom(p);
        if (op == '*')
            v *= r;
        else if (r != 0)
            v = op == '/' ? v / r : v % r;
    }
}

static long parse_expr(parser_t *p)
{
    long v = parse_term(p);
    for (;;) {
        skip_spaces(p);
        char op = p->s[p->pos];
        if (op != '+' && op != '-')
            return v;
        p->pos++;
        long r = parse_term(p);
        v = op == '+' ? v + r : v - r;
    }
}

static long eval(const char *s)
{
    parser_t p = { s, 0 };
    return parse_expr(&p);
}

/* ---- hash table of words ---- */

typedef struct entry {
    char *key;
    unsigned count;
    struct entry *next;
} entry_t;

typedef struct {
    entry_t **buckets;
    size_t nbuckets, size;
} table_t;

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static void table_grow(table_t *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
    entry_t **b = calloc(n, sizeof *b);
    for (size_t i = 0; i < t->nbuckets; i++)
        for (entry_t *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t j = fnv1a(e->key) & (n - 1);
            e->next = b[j];
            b[j] = e;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

static void table_add(table_t *t, const char *key)
{
    if (t->size * 4 >= t->nbuckets * 3)
        table_grow(t);
    size_t i = fnv1a(key) & (t->nbuckets - 1);
    for (entry_t *e = t->buckets[i]; e; e = e->next)
        if (strcmp(e->key, key) == 0) {
            e->count++;
            return;
        }
    entry_t *e = malloc(sizeof *e);
    e->key = strdup(key);
    e->count = 1;
    e->next = t->buckets[i];
    t->buckets[i] = e;
    t->size++;
}

static int by_count_then_key(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* ---- shapes through function pointers and unions ---- */

typedef enum { CIRCLE, RECT, TRIANGLE } kind_t;
typedef struct {
    kind_t kind;
    union {
        struct { long r; } circle;
        struct { long w, h; } rect;
        struct { long a, b, c; } tri;
    } u;
} shape_t;

static long area_circle(const shape_t *s) { return 355 * s->u.circle.r * s->u.circle.r / 113; }
static long area_rect(const shape_t *s) { return s->u.rect.w * s->u.rect.h; }
static long area_tri(const shape_t *s)
{
    long a = s->u.tri.a, b = s->u.tri.b, c = s->u.tri.c;
    long p = (a + b + c);
    return p * (p - 2 * a) * (p - 2 * b) * (p - 2 * c) / 16;   /* 16 * area^2 / 16 */
}

static long (*const area_of[])(const shape_t *) = { area_circle, area_rect, area_tri };

/* ---- a vectorisable kernel ---- */

static void saxpy(size_t n, float a, const float *restrict x, float *restrict y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a * x[i] + y[i];
}

int main(void)
{
    static const char *const exprs[] = {
        "1 + 2 * 3", "(1 + 2) * 3", "100 / 7 % 5", "-(4 - 10) * (2 + -3)",
        "((((1))))+((2*3)*(4*5))-6/2", "12345 * 6789 - 98765 % 321",
    };
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++)
        printf("%s = %ld\n", exprs[i], eval(exprs[i]));

    table_t t = { 0 };
    uint32_t x = 1;
    char word[16];
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        int len = 1 + (x >> 16) % 3;
        for (int j = 0; j < len; j++) {
            x = x * 1103515245u + 12345u;
            word[j] = (char)('a' + (x >> 16) % 6);
        }
        word[len] = '\0';
        table_add(&t, word);
    }
    entry_t **all = malloc(t.size * sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < t.nbuckets; i++)
        for (entry_t *e = t.buckets[i]; e; e = e->next)
            all[n++] = e;
    qsort(all, n, sizeof *all, by_count_then_key);
    printf("%zu distinct words; top:", n);
    for (size_t i = 0; i < 8 && i < n; i++)
        printf(" %s=%u", all[i]->key, all[i]->count);
    printf("\n");

    shape_t shapes[] = {
        { CIRCLE, { .circle = { 10 } } },
        { RECT, { .rect = { 3, 7 } } },
        { TRIANGLE, { .tri = { 3, 4, 5 } } },
    };
    for (size_t i = 0; i < 3; i++)
        printf("shape %zu: %ld\n", i, area_of[shapes[i].kind](&shapes[i]));

    enum { N = 1000 };
    static float xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = (float)i * 0.5f;
        ys[i] = (float)(N - i);
    }
    saxpy(N, 2.0f, xs, ys);
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += ys[i];
    printf("saxpy sum = %.1f\n", sum);

    for (size_t i = 0; i < n; i++) {
        free(all[i]->key);
        free(all[i]);
    }
    free(all);
    free(t.buckets);
    return 0;
}
