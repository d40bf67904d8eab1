/* A tiny scalar reverse-mode autograd engine in C99 (micrograd's design, float64, torch conventions).
 *
 * Values live in a Graph (an arena): build them with the value_* functions, call value_backward() on
 * the output, read ->data and ->grad. graph_free() releases everything at once, so one request of the
 * wire protocol is one Graph and nothing leaks between requests.
 */
#ifndef MICROGRAD_C_ENGINE_H
#define MICROGRAD_C_ENGINE_H

#include <stddef.h>

typedef enum {
    OP_LEAF = 0, /* an input or a constant: gradients accumulate here across backward passes */
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_POW, /* Value ** number: the exponent is stored in `k`, it gets no gradient */
    OP_POWV, /* Value ** Value */
    OP_NEG,
    OP_RECIP, /* 1 / Value */
    OP_EXP,
    OP_LOG,
    OP_TANH,
    OP_RELU,
    OP_SIGMOID,
    OP_SIN,
    OP_COS,
    OP_SQRT,
    OP_ABS
} Op;

typedef struct Value Value;
struct Value {
    double data;
    double grad;
    double k;     /* the constant exponent of OP_POW */
    Value *a;     /* first operand (NULL for leaves) */
    Value *b;     /* second operand (NULL for unary ops and leaves) */
    Op op;
    unsigned mark; /* visit stamp of the topological sort */
};

typedef struct Block Block;
typedef struct {
    Block *head;
    size_t count;
    unsigned stamp;
} Graph;

void graph_init(Graph *g);
void graph_free(Graph *g);

/* Every constructor returns NULL only when memory runs out. */
Value *value_new(Graph *g, double x);
Value *value_add(Graph *g, Value *a, Value *b);
Value *value_sub(Graph *g, Value *a, Value *b);
Value *value_mul(Graph *g, Value *a, Value *b);
Value *value_div(Graph *g, Value *a, Value *b);
Value *value_pow(Graph *g, Value *a, double exponent);
Value *value_powv(Graph *g, Value *a, Value *b);
Value *value_neg(Graph *g, Value *a);
Value *value_recip(Graph *g, Value *a);
Value *value_exp(Graph *g, Value *a);
Value *value_log(Graph *g, Value *a);
Value *value_tanh(Graph *g, Value *a);
Value *value_relu(Graph *g, Value *a);
Value *value_sigmoid(Graph *g, Value *a);
Value *value_sin(Graph *g, Value *a);
Value *value_cos(Graph *g, Value *a);
Value *value_sqrt(Graph *g, Value *a);
Value *value_abs(Graph *g, Value *a);

/* One backward pass from `out`, like torch's out.backward(retain_graph=True): leaves accumulate,
 * intermediate gradients are recomputed from zero. Returns 0, or -1 when memory runs out. */
int value_backward(Graph *g, Value *out);

#endif
