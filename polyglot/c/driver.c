/* The wire-protocol driver for the C engine (docs/PROTOCOL.md, protocol version 1).
 *
 * Reads one JSON request per line on stdin, rebuilds the program on the engine, answers one JSON line on
 * stdout. The JSON reader is hand-written and small: it understands all of JSON (so key order and
 * unknown keys do not matter) but keeps only what a "run" request needs.
 */
#include "engine.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROTOCOL_VERSION 1
#define MAX_OP_NAME 32

typedef enum { ARITY_UNARY = 1, ARITY_BINARY = 2 } Arity;

typedef enum {
    K_ADD, K_SUB, K_MUL, K_DIV, K_POW, K_NEG, K_EXP, K_LOG, K_TANH, K_RELU, K_SIGMOID,
    K_SIN, K_COS, K_SQRT, K_ABS
} Kind;

typedef struct {
    const char *name;
    Arity arity;
    Kind kind;
} OpInfo;

/* The ops this engine serves (names from conformance/ops.py); the index is the op code used below.
 * C has no operator overloading, so the augmented-assignment forms are the plain functions. */
static const OpInfo OPS[] = {
    {"add", ARITY_BINARY, K_ADD},     {"sub", ARITY_BINARY, K_SUB},   {"mul", ARITY_BINARY, K_MUL},
    {"div", ARITY_BINARY, K_DIV},     {"pow", ARITY_BINARY, K_POW},   {"neg", ARITY_UNARY, K_NEG},
    {"exp", ARITY_UNARY, K_EXP},      {"log", ARITY_UNARY, K_LOG},    {"tanh", ARITY_UNARY, K_TANH},
    {"relu", ARITY_UNARY, K_RELU},    {"sigmoid", ARITY_UNARY, K_SIGMOID},
    {"sin", ARITY_UNARY, K_SIN},      {"cos", ARITY_UNARY, K_COS},    {"sqrt", ARITY_UNARY, K_SQRT},
    {"abs", ARITY_UNARY, K_ABS},
    {"iadd", ARITY_BINARY, K_ADD},    {"isub", ARITY_BINARY, K_SUB},  {"imul", ARITY_BINARY, K_MUL},
    {"idiv", ARITY_BINARY, K_DIV},
};
#define N_OPS (sizeof OPS / sizeof OPS[0])
#define OP_INPUT (-1)
#define OP_CONST (-2)
#define OP_UNKNOWN (-3)
#define OP_TOO_MANY_ARGS (-4) /* a known name with more than two operands */

typedef struct {
    int code;                 /* index into OPS, or one of the OP_* codes below */
    char name[MAX_OP_NAME];   /* as received, for the "unsupported_op" answer */
    double value;             /* input/const only */
    long args[2];
    int nargs;
} ReqNode;

typedef struct {
    long long id;
    int has_id;
    int is_run;
    ReqNode *nodes;
    size_t n_nodes;
    size_t cap_nodes;
    long output;
    int has_output;
    long passes;
} Request;

typedef struct {
    const char *s;
    size_t pos;
    char err[200];
} Parser;

/* ---------------------------------------------------------------- JSON reading */

static int fail(Parser *p, const char *what) {
    snprintf(p->err, sizeof p->err, "%s at byte %lu", what, (unsigned long)p->pos);
    return -1;
}

static void skip_ws(Parser *p) {
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r' ||
           p->s[p->pos] == '\n') {
        p->pos++;
    }
}

static int expect(Parser *p, char c) {
    skip_ws(p);
    if (p->s[p->pos] != c) {
        char msg[40];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return fail(p, msg);
    }
    p->pos++;
    return 0;
}

/* Reads a string into out (truncated to size-1 bytes; escapes other than \" and \\ are kept raw,
 * which is enough since no name the protocol defines contains them). */
static int parse_string(Parser *p, char *out, size_t size) {
    size_t n = 0;
    if (expect(p, '"') != 0) {
        return -1;
    }
    for (;;) {
        char c = p->s[p->pos];
        if (c == '\0') {
            return fail(p, "unterminated string");
        }
        p->pos++;
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            c = p->s[p->pos];
            if (c == '\0') {
                return fail(p, "unterminated string");
            }
            p->pos++;
        }
        if (out != NULL && n + 1 < size) {
            out[n++] = c;
        }
    }
    if (out != NULL) {
        out[n] = '\0';
    }
    return 0;
}

/* A JSON number, or one of the strings the protocol uses for non-finite floats. */
static int parse_number(Parser *p, double *out) {
    char *end;
    skip_ws(p);
    if (p->s[p->pos] == '"') {
        char word[16];
        if (parse_string(p, word, sizeof word) != 0) {
            return -1;
        }
        if (strcmp(word, "NaN") == 0) {
            *out = NAN;
        } else if (strcmp(word, "Infinity") == 0) {
            *out = HUGE_VAL;
        } else if (strcmp(word, "-Infinity") == 0) {
            *out = -HUGE_VAL;
        } else {
            return fail(p, "expected a number or \"NaN\"/\"Infinity\"/\"-Infinity\"");
        }
        return 0;
    }
    if (p->s[p->pos] != '-' && !isdigit((unsigned char)p->s[p->pos])) {
        return fail(p, "expected a number");
    }
    *out = strtod(p->s + p->pos, &end);
    p->pos = (size_t)(end - p->s);
    return 0;
}

static int parse_index(Parser *p, long *out) {
    double x;
    if (parse_number(p, &x) != 0) {
        return -1;
    }
    if (!(x >= 0.0 && x < 2147483647.0) || x != floor(x)) {
        return fail(p, "expected a non-negative integer");
    }
    *out = (long)x;
    return 0;
}

static int skip_value(Parser *p, int depth);

static int skip_container(Parser *p, char close, int is_object, int depth) {
    skip_ws(p);
    if (p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (is_object && (parse_string(p, NULL, 0) != 0 || expect(p, ':') != 0)) {
            return -1;
        }
        if (skip_value(p, depth + 1) != 0) {
            return -1;
        }
        skip_ws(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        return expect(p, close);
    }
}

static int skip_value(Parser *p, int depth) {
    double ignored;
    if (depth > 64) {
        return fail(p, "nesting too deep");
    }
    skip_ws(p);
    switch (p->s[p->pos]) {
    case '"':
        return parse_string(p, NULL, 0);
    case '{':
        p->pos++;
        return skip_container(p, '}', 1, depth);
    case '[':
        p->pos++;
        return skip_container(p, ']', 0, depth);
    case 't':
        if (strncmp(p->s + p->pos, "true", 4) == 0) {
            p->pos += 4;
            return 0;
        }
        break;
    case 'f':
        if (strncmp(p->s + p->pos, "false", 5) == 0) {
            p->pos += 5;
            return 0;
        }
        break;
    case 'n':
        if (strncmp(p->s + p->pos, "null", 4) == 0) {
            p->pos += 4;
            return 0;
        }
        break;
    default:
        return parse_number(p, &ignored);
    }
    return fail(p, "invalid JSON value");
}

static int lookup_op(const char *name) {
    size_t i;
    if (strcmp(name, "input") == 0) {
        return OP_INPUT;
    }
    if (strcmp(name, "const") == 0) {
        return OP_CONST;
    }
    for (i = 0; i < N_OPS; i++) {
        if (strcmp(name, OPS[i].name) == 0) {
            return (int)i;
        }
    }
    return OP_UNKNOWN;
}

/* One node: ["input", x] | ["const", x] | [op, i] | [op, i, j]. */
static int parse_node(Parser *p, ReqNode *node) {
    if (expect(p, '[') != 0 || parse_string(p, node->name, sizeof node->name) != 0) {
        return -1;
    }
    node->code = lookup_op(node->name);
    node->nargs = 0;
    node->value = 0.0;
    if (node->code == OP_INPUT || node->code == OP_CONST) {
        if (expect(p, ',') != 0 || parse_number(p, &node->value) != 0) {
            return -1;
        }
        return expect(p, ']');
    }
    for (;;) {
        skip_ws(p);
        if (p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        }
        if (expect(p, ',') != 0) {
            return -1;
        }
        if (node->nargs == 2) {
            /* Keep reading so an unknown n-ary op is still answered as unsupported, not as garbage. */
            if (skip_value(p, 1) != 0) {
                return -1;
            }
            node->code = node->code == OP_UNKNOWN ? OP_UNKNOWN : OP_TOO_MANY_ARGS;
            continue;
        }
        if (parse_index(p, &node->args[node->nargs]) != 0) {
            return -1;
        }
        node->nargs++;
    }
}

static int parse_nodes(Parser *p, Request *r) {
    if (expect(p, '[') != 0) {
        return -1;
    }
    skip_ws(p);
    if (p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (r->n_nodes == r->cap_nodes) {
            size_t cap = r->cap_nodes == 0 ? 64 : 2 * r->cap_nodes;
            ReqNode *grown = realloc(r->nodes, cap * sizeof *grown);
            if (grown == NULL) {
                return fail(p, "out of memory");
            }
            r->nodes = grown;
            r->cap_nodes = cap;
        }
        if (parse_node(p, &r->nodes[r->n_nodes]) != 0) {
            return -1;
        }
        r->n_nodes++;
        skip_ws(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        return expect(p, ']');
    }
}

static int parse_request(Parser *p, Request *r) {
    char key[32];
    char type[16];
    double id;
    if (expect(p, '{') != 0) {
        return -1;
    }
    skip_ws(p);
    if (p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (parse_string(p, key, sizeof key) != 0 || expect(p, ':') != 0) {
            return -1;
        }
        if (strcmp(key, "type") == 0) {
            if (parse_string(p, type, sizeof type) != 0) {
                return -1;
            }
            r->is_run = strcmp(type, "run") == 0;
        } else if (strcmp(key, "id") == 0) {
            if (parse_number(p, &id) != 0) {
                return -1;
            }
            r->id = (long long)id;
            r->has_id = 1;
        } else if (strcmp(key, "nodes") == 0) {
            if (parse_nodes(p, r) != 0) {
                return -1;
            }
        } else if (strcmp(key, "output") == 0) {
            if (parse_index(p, &r->output) != 0) {
                return -1;
            }
            r->has_output = 1;
        } else if (strcmp(key, "backward_passes") == 0) {
            if (parse_index(p, &r->passes) != 0) {
                return -1;
            }
        } else if (skip_value(p, 1) != 0) {
            return -1;
        }
        skip_ws(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (expect(p, '}') != 0) {
            return -1;
        }
        skip_ws(p);
        return p->s[p->pos] == '\0' ? 0 : fail(p, "trailing characters after the request");
    }
}

/* ---------------------------------------------------------------- JSON writing */

static void write_number(double x) {
    if (isnan(x)) {
        fputs("\"NaN\"", stdout);
    } else if (isinf(x)) {
        fputs(x > 0 ? "\"Infinity\"" : "\"-Infinity\"", stdout);
    } else if (x == 0.0 && signbit(x)) {
        /* "-0" would be read as the integer 0 by most JSON readers, losing the sign. */
        fputs("-0.0", stdout);
    } else {
        /* 17 significant digits always read back as the same double. */
        printf("%.17g", x);
    }
}

static void write_string(const char *s) {
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void write_id(const Request *r) {
    if (r->has_id) {
        printf("%lld", r->id);
    } else {
        fputs("null", stdout);
    }
}

static void write_error(const Request *r, const char *kind, const char *op, const char *message) {
    fputs("{\"type\":\"error\",\"id\":", stdout);
    write_id(r);
    fputs(",\"kind\":", stdout);
    write_string(kind);
    if (op != NULL) {
        fputs(",\"op\":", stdout);
        write_string(op);
    }
    fputs(",\"message\":", stdout);
    write_string(message);
    fputs("}\n", stdout);
}

static void write_hello(void) {
    size_t i;
    printf("{\"type\":\"hello\",\"protocol\":%d,\"engine\":\"micrograd-c", PROTOCOL_VERSION);
#if defined(BUG_GRAD_ASSIGN)
    fputs(" (BUG_GRAD_ASSIGN)", stdout);
#elif defined(BUG_TANH_DERIV)
    fputs(" (BUG_TANH_DERIV)", stdout);
#endif
    fputs("\",\"ops\":[", stdout);
    for (i = 0; i < N_OPS; i++) {
        printf("%s\"%s\"", i == 0 ? "" : ",", OPS[i].name);
    }
    fputs("]}\n", stdout);
}

/* ---------------------------------------------------------------- running a program */

/* One op on the engine. A constant operand arrives as a leaf Value (how a C port takes a number on
 * either side), except the exponent of pow, which the engine takes as a plain double. */
static Value *apply(Graph *g, const ReqNode *n, Value *a, Value *b, int a_is_const,
                    int b_is_const) {
    switch (OPS[n->code].kind) {
    case K_ADD: return value_add(g, a, b);
    case K_SUB: return value_sub(g, a, b);
    case K_MUL: return value_mul(g, a, b);
    case K_DIV:
        /* A number divided by a Value is number * (1 / Value), as torch computes it: its
         * gradient keeps the digits that (a / b) / b would lose to underflow. */
        if (a_is_const) {
            Value *r = value_recip(g, b);
            return r == NULL ? NULL : value_mul(g, a, r);
        }
        return value_div(g, a, b);
    case K_POW: return b_is_const ? value_pow(g, a, b->data) : value_powv(g, a, b);
    case K_NEG: return value_neg(g, a);
    case K_EXP: return value_exp(g, a);
    case K_LOG: return value_log(g, a);
    case K_TANH: return value_tanh(g, a);
    case K_RELU: return value_relu(g, a);
    case K_SIGMOID: return value_sigmoid(g, a);
    case K_SIN: return value_sin(g, a);
    case K_COS: return value_cos(g, a);
    case K_SQRT: return value_sqrt(g, a);
    case K_ABS: return value_abs(g, a);
    }
    return NULL;
}

/* Checks the request and answers it: a "result" or an "error" line. */
static void run(const Request *r) {
    Graph g;
    Value **values;
    char msg[160];
    size_t i;
    long pass;
    if (!r->is_run) {
        write_error(r, "invalid_request", NULL, "expected a request with \"type\": \"run\"");
        return;
    }
    if (!r->has_id || !r->has_output || r->n_nodes == 0) {
        write_error(r, "invalid_request", NULL, "a run request needs \"id\", \"nodes\" and \"output\"");
        return;
    }
    for (i = 0; i < r->n_nodes; i++) {
        const ReqNode *n = &r->nodes[i];
        int k;
        if (n->code == OP_UNKNOWN || n->code == OP_TOO_MANY_ARGS) {
            snprintf(msg, sizeof msg, "micrograd-c does not implement the op \"%s\" with %s", n->name,
                     n->code == OP_TOO_MANY_ARGS ? "more than two operands" : "any operands");
            write_error(r, "unsupported_op", n->name, msg);
            return;
        }
        if (n->code >= 0 && n->nargs != (int)OPS[n->code].arity) {
            snprintf(msg, sizeof msg, "node %lu: \"%s\" takes %d operand(s), got %d",
                     (unsigned long)i, n->name, (int)OPS[n->code].arity, n->nargs);
            write_error(r, "invalid_request", NULL, msg);
            return;
        }
        for (k = 0; k < n->nargs; k++) {
            if ((size_t)n->args[k] >= i) {
                snprintf(msg, sizeof msg, "node %lu refers to node %ld, which is not an earlier node",
                         (unsigned long)i, n->args[k]);
                write_error(r, "invalid_request", NULL, msg);
                return;
            }
        }
    }
    if ((size_t)r->output >= r->n_nodes) {
        write_error(r, "invalid_request", NULL, "\"output\" is not a node index");
        return;
    }
    values = malloc(r->n_nodes * sizeof *values);
    if (values == NULL) {
        write_error(r, "engine_error", NULL, "out of memory");
        return;
    }
    graph_init(&g);
    for (i = 0; i < r->n_nodes; i++) {
        const ReqNode *n = &r->nodes[i];
        /* Constants become leaf Values too: that is how a C port takes a number on either side. */
        if (n->code < 0) {
            values[i] = value_new(&g, n->value);
        } else {
            Value *a = values[n->args[0]];
            Value *b = n->nargs == 2 ? values[n->args[1]] : NULL;
            int a_is_const = r->nodes[n->args[0]].code == OP_CONST;
            int b_is_const = n->nargs == 2 && r->nodes[n->args[1]].code == OP_CONST;
            values[i] = apply(&g, n, a, b, a_is_const, b_is_const);
        }
        if (values[i] == NULL) {
            break;
        }
    }
    for (pass = 0; i == r->n_nodes && pass < r->passes; pass++) {
        if (value_backward(&g, values[r->output]) != 0) {
            i = 0;
        }
    }
    if (i != r->n_nodes) {
        write_error(r, "engine_error", NULL, "out of memory");
    } else {
        fputs("{\"type\":\"result\",\"id\":", stdout);
        write_id(r);
        fputs(",\"values\":[", stdout);
        for (i = 0; i < r->n_nodes; i++) {
            if (i > 0) putchar(',');
            write_number(values[i]->data);
        }
        fputs("],\"grads\":[", stdout);
        for (i = 0; i < r->n_nodes; i++) {
            if (i > 0) putchar(',');
            write_number(values[i]->grad);
        }
        fputs("]}\n", stdout);
    }
    free(values);
    graph_free(&g);
}

/* Reads one line of any length; returns NULL at end of input. */
static char *read_line(char **buf, size_t *cap) {
    size_t n = 0;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (n + 1 >= *cap) {
            size_t grown_cap = *cap == 0 ? 4096 : 2 * *cap;
            char *grown = realloc(*buf, grown_cap);
            if (grown == NULL) {
                return NULL;
            }
            *buf = grown;
            *cap = grown_cap;
        }
        (*buf)[n++] = (char)c;
    }
    if (c == EOF && n == 0) {
        return NULL;
    }
    if (*buf == NULL) {
        *buf = malloc(1);
        if (*buf == NULL) {
            return NULL;
        }
        *cap = 1;
    }
    (*buf)[n] = '\0';
    return *buf;
}

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    Request r;
    memset(&r, 0, sizeof r);
    write_hello();
    fflush(stdout);
    while (read_line(&line, &cap) != NULL) {
        Parser p;
        size_t keep = r.cap_nodes;
        ReqNode *nodes = r.nodes;
        memset(&r, 0, sizeof r);
        r.nodes = nodes;
        r.cap_nodes = keep;
        r.passes = 1;
        p.s = line;
        p.pos = 0;
        p.err[0] = '\0';
        skip_ws(&p);
        if (p.s[p.pos] == '\0') {
            continue; /* blank lines are allowed between requests */
        }
        if (parse_request(&p, &r) != 0) {
            write_error(&r, "invalid_request", NULL, p.err);
        } else {
            run(&r);
        }
        fflush(stdout);
    }
    free(line);
    free(r.nodes);
    return 0;
}
