/* The engine: forward ops build nodes, value_backward() walks them in reverse topological order.
 *
 * Build flags that plant one bug each, so the test suite can prove the harness rejects them:
 *   -DBUG_GRAD_ASSIGN   a gradient is assigned instead of accumulated (breaks a+a and node reuse)
 *   -DBUG_TANH_DERIV    tanh'(x) computed as 1 - tanh(x) instead of 1 - tanh(x)^2
 */
#include "engine.h"

#include <math.h>
#include <stdlib.h>

#define BLOCK_VALUES 4096

struct Block {
    Block *next;
    size_t used;
    Value values[BLOCK_VALUES];
};

#ifdef BUG_GRAD_ASSIGN
#define ACCUMULATE(target, amount) ((target) = (amount))
#else
#define ACCUMULATE(target, amount) ((target) += (amount))
#endif

void graph_init(Graph *g) {
    g->head = NULL;
    g->count = 0;
    g->stamp = 0;
}

void graph_free(Graph *g) {
    Block *block = g->head;
    while (block != NULL) {
        Block *next = block->next;
        free(block);
        block = next;
    }
    graph_init(g);
}

static Value *node(Graph *g, Op op, double data, Value *a, Value *b) {
    Value *v;
    if (g->head == NULL || g->head->used == BLOCK_VALUES) {
        Block *block = malloc(sizeof *block);
        if (block == NULL) {
            return NULL;
        }
        block->next = g->head;
        block->used = 0;
        g->head = block;
    }
    v = &g->head->values[g->head->used++];
    g->count++;
    v->data = data;
    v->grad = 0.0;
    v->k = 0.0;
    v->a = a;
    v->b = b;
    v->op = op;
    v->mark = 0;
    return v;
}

Value *value_new(Graph *g, double x) { return node(g, OP_LEAF, x, NULL, NULL); }
Value *value_add(Graph *g, Value *a, Value *b) { return node(g, OP_ADD, a->data + b->data, a, b); }
Value *value_sub(Graph *g, Value *a, Value *b) { return node(g, OP_SUB, a->data - b->data, a, b); }
Value *value_mul(Graph *g, Value *a, Value *b) { return node(g, OP_MUL, a->data * b->data, a, b); }
Value *value_div(Graph *g, Value *a, Value *b) { return node(g, OP_DIV, a->data / b->data, a, b); }
Value *value_neg(Graph *g, Value *a) { return node(g, OP_NEG, -a->data, a, NULL); }
Value *value_recip(Graph *g, Value *a) { return node(g, OP_RECIP, 1.0 / a->data, a, NULL); }
Value *value_exp(Graph *g, Value *a) { return node(g, OP_EXP, exp(a->data), a, NULL); }
Value *value_log(Graph *g, Value *a) { return node(g, OP_LOG, log(a->data), a, NULL); }
Value *value_tanh(Graph *g, Value *a) { return node(g, OP_TANH, tanh(a->data), a, NULL); }

/* x ** e with torch's special cases: e = 2 squares, e = +-0.5 take a square root (so that
 * (-inf) ** 0.5 is nan, not inf). */
static double pow_scalar(double x, double e) {
    if (e == 2.0) {
        return x * x;
    }
    if (e == 0.5) {
        return x >= 0.0 ? sqrt(x) : NAN;
    }
    if (e == -0.5) {
        return x >= 0.0 ? 1.0 / sqrt(x) : NAN;
    }
    return pow(x, e);
}

Value *value_pow(Graph *g, Value *a, double exponent) {
    Value *v = node(g, OP_POW, pow_scalar(a->data, exponent), a, NULL);
    if (v != NULL) {
        v->k = exponent;
    }
    return v;
}

Value *value_powv(Graph *g, Value *a, Value *b) {
    return node(g, OP_POWV, pow(a->data, b->data), a, b);
}

Value *value_relu(Graph *g, Value *a) {
    /* Written so that NaN passes through, as in torch. */
    return node(g, OP_RELU, a->data <= 0.0 ? 0.0 : a->data, a, NULL);
}

Value *value_sigmoid(Graph *g, Value *a) {
    return node(g, OP_SIGMOID, 1.0 / (1.0 + exp(-a->data)), a, NULL);
}

Value *value_sin(Graph *g, Value *a) { return node(g, OP_SIN, sin(a->data), a, NULL); }
Value *value_cos(Graph *g, Value *a) { return node(g, OP_COS, cos(a->data), a, NULL); }
Value *value_sqrt(Graph *g, Value *a) { return node(g, OP_SQRT, sqrt(a->data), a, NULL); }
Value *value_abs(Graph *g, Value *a) { return node(g, OP_ABS, fabs(a->data), a, NULL); }

/* Push this node's gradient into its operands (torch's formulas, including its special cases). */
static void propagate(Value *v) {
    double g = v->grad;
    Value *a = v->a;
    Value *b = v->b;
    switch (v->op) {
    case OP_LEAF:
        break;
    case OP_ADD:
        ACCUMULATE(a->grad, g);
        ACCUMULATE(b->grad, g);
        break;
    case OP_SUB:
        ACCUMULATE(a->grad, g);
        ACCUMULATE(b->grad, -g);
        break;
    case OP_MUL:
        ACCUMULATE(a->grad, g * b->data);
        ACCUMULATE(b->grad, g * a->data);
        break;
    case OP_DIV:
        ACCUMULATE(a->grad, g / b->data);
        /* torch: (a / b) / b, not a / (b * b), which underflows to 0 for tiny b. */
        ACCUMULATE(b->grad, -g * ((a->data / b->data) / b->data));
        break;
    case OP_POW:
        /* torch: a zero exponent has a zero gradient even where x^-1 is infinite. */
        ACCUMULATE(a->grad, v->k == 0.0 ? 0.0 : g * (v->k * pow_scalar(a->data, v->k - 1.0)));
        break;
    case OP_POWV:
        ACCUMULATE(a->grad, b->data == 0.0 ? 0.0 : g * (b->data * pow(a->data, b->data - 1.0)));
        /* torch masks d/db where the base is 0 and the exponent >= 0 (log(0) would give nan). */
        ACCUMULATE(b->grad,
                   (a->data == 0.0 && b->data >= 0.0) ? 0.0 : g * (v->data * log(a->data)));
        break;
    case OP_NEG:
        ACCUMULATE(a->grad, -g);
        break;
    case OP_RECIP:
        ACCUMULATE(a->grad, g * -(v->data * v->data));
        break;
    case OP_EXP:
        ACCUMULATE(a->grad, g * v->data);
        break;
    case OP_LOG:
        ACCUMULATE(a->grad, g / a->data);
        break;
    case OP_TANH:
#ifdef BUG_TANH_DERIV
        ACCUMULATE(a->grad, g * (1.0 - v->data));
#else
        /* (1 - t)(1 + t) rather than 1 - t*t: no cancellation when |t| is close to 1. */
        ACCUMULATE(a->grad, g * ((1.0 - v->data) * (1.0 + v->data)));
#endif
        break;
    case OP_RELU:
        /* torch's threshold_backward: relu'(0) = 0, a NaN result lets the gradient through, and
         * the mask is a selection, not a product (inf * 0 would be nan). */
        ACCUMULATE(a->grad, v->data <= 0.0 ? 0.0 : g);
        break;
    case OP_SIGMOID:
        ACCUMULATE(a->grad, g * (1.0 - v->data) * v->data);
        break;
    case OP_SIN:
        ACCUMULATE(a->grad, g * cos(a->data));
        break;
    case OP_COS:
        ACCUMULATE(a->grad, g * -sin(a->data));
        break;
    case OP_SQRT:
        /* torch: grad / (2 * result), so the derivative at 0 is infinite. */
        ACCUMULATE(a->grad, g / (2.0 * v->data));
        break;
    case OP_ABS:
        /* torch: grad * sgn(x), with sgn(0) = sgn(nan) = 0 (a product: inf * 0 is nan). */
        ACCUMULATE(a->grad, g * (a->data > 0.0 ? 1.0 : a->data < 0.0 ? -1.0 : 0.0));
        break;
    }
}

typedef struct {
    Value *v;
    int expanded;
} Frame;

int value_backward(Graph *g, Value *out) {
    /* Iterative depth-first topological sort: a chain of 100,000 nodes must not overflow the C stack.
     * Each node is pushed at most once per parent edge plus once expanded, so 3 * count bounds it. */
    size_t cap = 3 * g->count + 1;
    Frame *stack = malloc(cap * sizeof *stack);
    Value **topo = malloc((g->count + 1) * sizeof *topo);
    size_t depth = 0;
    size_t n = 0;
    size_t i;
    if (stack == NULL || topo == NULL) {
        free(stack);
        free(topo);
        return -1;
    }
    g->stamp++;
    stack[depth].v = out;
    stack[depth].expanded = 0;
    depth++;
    while (depth > 0) {
        Frame f = stack[--depth];
        if (f.expanded) {
            topo[n++] = f.v;
            continue;
        }
        if (f.v->mark == g->stamp) {
            continue;
        }
        f.v->mark = g->stamp;
        stack[depth].v = f.v;
        stack[depth].expanded = 1;
        depth++;
        if (f.v->a != NULL && f.v->a->mark != g->stamp) {
            stack[depth].v = f.v->a;
            stack[depth].expanded = 0;
            depth++;
        }
        if (f.v->b != NULL && f.v->b->mark != g->stamp) {
            stack[depth].v = f.v->b;
            stack[depth].expanded = 0;
            depth++;
        }
    }
    /* Intermediate gradients belong to this pass only; leaves keep what earlier passes left. */
    for (i = 0; i < n; i++) {
        if (topo[i]->op != OP_LEAF) {
            topo[i]->grad = 0.0;
        }
    }
    out->grad += 1.0;
    for (i = n; i > 0; i--) {
        propagate(topo[i - 1]);
    }
    free(stack);
    free(topo);
    return 0;
}
