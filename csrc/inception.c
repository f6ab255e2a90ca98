#include "inception.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avgpool.h"
#include "conv2d.h"
#include "maxpool.h"
#include "reduce.h"
#include "polyphase.h"
#include "winograd.h"
#include "winograd1d.h"

#define SAME 1
#define VALID 0

/* Keras conv2d_1 .. conv2d_94 in order: (kh, kw, cin, cout, stride, padding). */
const conv_spec INCEPTION_CONVS[INCEPTION_N_CONVS] = {
    /* stem */
    {3, 3, 3, 32, 2, VALID}, {3, 3, 32, 32, 1, VALID}, {3, 3, 32, 64, 1, SAME},
    {1, 1, 64, 80, 1, VALID}, {3, 3, 80, 192, 1, VALID},
    /* mixed0 */
    {1, 1, 192, 64, 1, SAME}, {1, 1, 192, 48, 1, SAME}, {5, 5, 48, 64, 1, SAME},
    {1, 1, 192, 64, 1, SAME}, {3, 3, 64, 96, 1, SAME}, {3, 3, 96, 96, 1, SAME},
    {1, 1, 192, 32, 1, SAME},
    /* mixed1 */
    {1, 1, 256, 64, 1, SAME}, {1, 1, 256, 48, 1, SAME}, {5, 5, 48, 64, 1, SAME},
    {1, 1, 256, 64, 1, SAME}, {3, 3, 64, 96, 1, SAME}, {3, 3, 96, 96, 1, SAME},
    {1, 1, 256, 64, 1, SAME},
    /* mixed2 */
    {1, 1, 288, 64, 1, SAME}, {1, 1, 288, 48, 1, SAME}, {5, 5, 48, 64, 1, SAME},
    {1, 1, 288, 64, 1, SAME}, {3, 3, 64, 96, 1, SAME}, {3, 3, 96, 96, 1, SAME},
    {1, 1, 288, 64, 1, SAME},
    /* mixed3 */
    {3, 3, 288, 384, 2, VALID}, {1, 1, 288, 64, 1, SAME}, {3, 3, 64, 96, 1, SAME},
    {3, 3, 96, 96, 2, VALID},
    /* mixed4 */
    {1, 1, 768, 192, 1, SAME}, {1, 1, 768, 128, 1, SAME}, {1, 7, 128, 128, 1, SAME},
    {7, 1, 128, 192, 1, SAME}, {1, 1, 768, 128, 1, SAME}, {7, 1, 128, 128, 1, SAME},
    {1, 7, 128, 128, 1, SAME}, {7, 1, 128, 128, 1, SAME}, {1, 7, 128, 192, 1, SAME},
    {1, 1, 768, 192, 1, SAME},
    /* mixed5 */
    {1, 1, 768, 192, 1, SAME}, {1, 1, 768, 160, 1, SAME}, {1, 7, 160, 160, 1, SAME},
    {7, 1, 160, 192, 1, SAME}, {1, 1, 768, 160, 1, SAME}, {7, 1, 160, 160, 1, SAME},
    {1, 7, 160, 160, 1, SAME}, {7, 1, 160, 160, 1, SAME}, {1, 7, 160, 192, 1, SAME},
    {1, 1, 768, 192, 1, SAME},
    /* mixed6 */
    {1, 1, 768, 192, 1, SAME}, {1, 1, 768, 160, 1, SAME}, {1, 7, 160, 160, 1, SAME},
    {7, 1, 160, 192, 1, SAME}, {1, 1, 768, 160, 1, SAME}, {7, 1, 160, 160, 1, SAME},
    {1, 7, 160, 160, 1, SAME}, {7, 1, 160, 160, 1, SAME}, {1, 7, 160, 192, 1, SAME},
    {1, 1, 768, 192, 1, SAME},
    /* mixed7 */
    {1, 1, 768, 192, 1, SAME}, {1, 1, 768, 192, 1, SAME}, {1, 7, 192, 192, 1, SAME},
    {7, 1, 192, 192, 1, SAME}, {1, 1, 768, 192, 1, SAME}, {7, 1, 192, 192, 1, SAME},
    {1, 7, 192, 192, 1, SAME}, {7, 1, 192, 192, 1, SAME}, {1, 7, 192, 192, 1, SAME},
    {1, 1, 768, 192, 1, SAME},
    /* mixed8 */
    {1, 1, 768, 192, 1, SAME}, {3, 3, 192, 320, 2, VALID}, {1, 1, 768, 192, 1, SAME},
    {1, 7, 192, 192, 1, SAME}, {7, 1, 192, 192, 1, SAME}, {3, 3, 192, 192, 2, VALID},
    /* mixed9 */
    {1, 1, 1280, 320, 1, SAME}, {1, 1, 1280, 384, 1, SAME}, {1, 3, 384, 384, 1, SAME},
    {3, 1, 384, 384, 1, SAME}, {1, 1, 1280, 448, 1, SAME}, {3, 3, 448, 384, 1, SAME},
    {1, 3, 384, 384, 1, SAME}, {3, 1, 384, 384, 1, SAME}, {1, 1, 1280, 192, 1, SAME},
    /* mixed10 */
    {1, 1, 2048, 320, 1, SAME}, {1, 1, 2048, 384, 1, SAME}, {1, 3, 384, 384, 1, SAME},
    {3, 1, 384, 384, 1, SAME}, {1, 1, 2048, 448, 1, SAME}, {3, 3, 448, 384, 1, SAME},
    {1, 3, 384, 384, 1, SAME}, {3, 1, 384, 384, 1, SAME}, {1, 1, 2048, 192, 1, SAME},
};

/* ---- building the graph: each builder appends ops in Keras' layer order ---- */

typedef struct {
    inception_net *net;
    int next_conv; /* convs are consumed in table order */
} builder;

static int new_tensor(builder *b, int channels) {
    b->net->channels[b->net->n_tensors] = channels;
    return b->net->n_tensors++;
}

static void add_op(builder *b, net_op op) { b->net->ops[b->net->n_ops++] = op; }

/* Next conv of the table, from tensor `in` into channels [offset, offset+cout) of `out`
 * (a new tensor of its own when out < 0). Returns the output tensor. */
static int conv(builder *b, int in, int out, int offset) {
    int i = b->next_conv++;
    const conv_spec *s = &INCEPTION_CONVS[i];
    if (out < 0) out = new_tensor(b, s->cout);
    add_op(b, (net_op){OP_CONV, i, in, out, offset, 0, s->kh, s->kw, s->stride, s->same});
    return out;
}

/* A 3x3 stride-2 VALID max pool from `in` into channels [offset, ...) of `out` (a new tensor of
 * its own when out < 0). Returns the output tensor. */
static int max_pool(builder *b, int in, int out, int offset) {
    if (out < 0) out = new_tensor(b, b->net->channels[in]);
    add_op(b, (net_op){OP_MAXPOOL, -1, in, out, offset, 0, 3, 3, 2, VALID});
    return out;
}

/* A pool branch, Keras' 3x3 average pool then the next 1x1 conv of the table (+ bias, ReLU),
 * into channels [offset, offset+cout) of `out`, run as the conv without bias and ReLU into a
 * tensor of its own, then the pool, which adds the bias and applies the ReLU: the same function
 * (see avgpool.c), with the pool on the conv's fewer channels. */
static void pool_branch(builder *b, int in, int out, int offset) {
    int i = b->next_conv;
    int t = conv(b, in, -1, 0);
    b->net->ops[b->net->n_ops - 1].linear = 1;
    add_op(b, (net_op){OP_AVGPOOL, i, t, out, offset, 0, 3, 3, 1, SAME});
}

static void end_block(builder *b, int block, int out) {
    b->net->block_tensor[block] = out;
    b->net->block_end[block] = b->net->n_ops;
    b->net->block_tensors_end[block] = b->net->n_tensors;
}

/* mixed0-2: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avgpool -> 1x1 */
static int block_a(builder *b, int block, int x, int pool_ch) {
    int out = new_tensor(b, 64 + 64 + 96 + pool_ch);
    conv(b, x, out, 0);
    conv(b, conv(b, x, -1, 0), out, 64);
    conv(b, conv(b, conv(b, x, -1, 0), -1, 0), out, 128);
    pool_branch(b, x, out, 224);
    end_block(b, block, out);
    return out;
}

/* mixed3: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | maxpool/2 */
static int block_b(builder *b, int x) {
    int out = new_tensor(b, 384 + 96 + 288);
    conv(b, x, out, 0);
    conv(b, conv(b, conv(b, x, -1, 0), -1, 0), out, 384);
    max_pool(b, x, out, 480);
    end_block(b, 3, out);
    return out;
}

/* mixed4-7: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avgpool -> 1x1 */
static int block_c(builder *b, int block, int x) {
    int out = new_tensor(b, 768);
    conv(b, x, out, 0);
    conv(b, conv(b, conv(b, x, -1, 0), -1, 0), out, 192);
    int t = conv(b, x, -1, 0);
    for (int i = 0; i < 3; i++) t = conv(b, t, -1, 0);
    conv(b, t, out, 384);
    pool_branch(b, x, out, 576);
    end_block(b, block, out);
    return out;
}

/* mixed8: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | maxpool/2 */
static int block_d(builder *b, int x) {
    int out = new_tensor(b, 320 + 192 + 768);
    conv(b, conv(b, x, -1, 0), out, 0);
    conv(b, conv(b, conv(b, conv(b, x, -1, 0), -1, 0), -1, 0), out, 320);
    max_pool(b, x, out, 512);
    end_block(b, 8, out);
    return out;
}

/* mixed9-10: 1x1 | 1x1 -> (1x3 | 3x1) | 1x1 -> 3x3 -> (1x3 | 3x1) | avgpool -> 1x1 */
static int block_e(builder *b, int block, int x) {
    int out = new_tensor(b, 320 + 768 + 768 + 192);
    conv(b, x, out, 0);
    int t = conv(b, x, -1, 0);
    conv(b, t, out, 320);
    conv(b, t, out, 704);
    t = conv(b, conv(b, x, -1, 0), -1, 0);
    conv(b, t, out, 1088);
    conv(b, t, out, 1472);
    pool_branch(b, x, out, 1856);
    end_block(b, block, out);
    return out;
}

/* Whether op's backward can apply the ReLU mask of its input's producers as it writes the
 * input's gradient, at no cost: a max pool (through its argmax) or a 2-D Winograd conv (in its
 * output transform). */
static int masks_input_gradient(const net_op *op) {
    window g = {.kh = op->kh, .kw = op->kw, .sh = op->stride, .sw = op->stride};
    return op->kind == OP_MAXPOOL || (op->kind == OP_CONV && conv2d_uses_winograd(&g));
}

#define MAX_GROUP 8 /* 1x1 convs of one pointwise group at most (InceptionV3: 4) */

static int is_pointwise_conv(const net_op *op) {
    return op->kind == OP_CONV && op->kh == 1 && op->kw == 1 && op->stride == 1;
}

/* net->pointwise_group (see inception.h) from the ops */
static void find_pointwise_groups(inception_net *net) {
    for (int t = 0; t < net->n_tensors; t++) {
        int readers = 0, first = -1, all_pointwise = 1;
        for (int i = 0; i < net->n_ops; i++) {
            if (net->ops[i].in != t) continue;
            if (!readers++) first = i;
            all_pointwise &= is_pointwise_conv(&net->ops[i]);
        }
        net->pointwise_group[t] = readers >= 2 && readers <= MAX_GROUP && all_pointwise ? first : -1;
    }
}

/* net->grad_masked (see inception.h) from the ops */
static void find_masked_gradients(inception_net *net) {
    for (int t = 1; t < net->n_tensors; t++) {
        int readers = 0, reader = -1, relu = 1;
        for (int i = 0; i < net->n_ops; i++) {
            if (net->ops[i].in == t) {
                readers++;
                reader = i;
            }
            if (net->ops[i].out == t && (net->ops[i].kind != OP_CONV || net->ops[i].linear))
                relu = 0;
        }
        net->grad_masked[t] = relu && readers == 1 && masks_input_gradient(&net->ops[reader]);
    }
}

void inception_init(inception_net *net) {
    memset(net, 0, sizeof(*net));
    builder b = {net, 0};
    int x = new_tensor(&b, 3);
    for (int i = 0; i < 3; i++) x = conv(&b, x, -1, 0);
    x = max_pool(&b, x, -1, 0);
    x = conv(&b, conv(&b, x, -1, 0), -1, 0);
    x = max_pool(&b, x, -1, 0);
    x = block_a(&b, 0, x, 32);
    x = block_a(&b, 1, x, 64);
    x = block_a(&b, 2, x, 64);
    x = block_b(&b, x);
    for (int i = 4; i < 8; i++) x = block_c(&b, i, x);
    x = block_d(&b, x);
    x = block_e(&b, 9, x);
    block_e(&b, 10, x);
    find_masked_gradients(net);
    find_pointwise_groups(net);
}

/* The 1x7/7x1 (and 1x3/3x1) kernels for 1-D Winograd: 0 on success, -1 out of memory. Only
 * those of the blocks these weights can compute: the shipped weights hold mixed9/10's 1x3/3x1
 * kernels but not all of those blocks' others, and their transforms would take 36 MB. */
static int prepare_winograd1d(inception_net *net) {
    for (int b = 0; b < INCEPTION_N_BLOCKS; b++) {
        int first = b ? net->block_end[b - 1] : 0;
        for (int i = first; i < net->block_end[b]; i++) {
            const net_op *op = &net->ops[i];
            if (op->kind == OP_CONV && (!net->kernel[op->conv] || !net->bias[op->conv])) return 0;
        }
        for (int i = first; i < net->block_end[b]; i++) {
            const net_op *op = &net->ops[i];
            if (op->kind != OP_CONV) continue;
            const conv_spec *s = &INCEPTION_CONVS[op->conv];
            int r = conv2d_winograd1d_length(s->kh, s->kw, s->stride);
            if (!r || net->wino[op->conv]) continue;
            size_t n = winograd1d_kernel_size(r, s->cin, s->cout);
            float *u = malloc(n * sizeof(float)), *u_back = malloc(n * sizeof(float));
            net->wino[op->conv] = u;
            net->wino_back[op->conv] = u_back;
            if (!u || !u_back) return -1;
            winograd1d_kernel_transform(u, net->kernel[op->conv], r, s->cin, s->cout, 0);
            winograd1d_kernel_transform(u_back, net->kernel[op->conv], r, s->cin, s->cout, 1);
        }
    }
    return 0;
}

dd_status inception_prepare(inception_net *net, dd_error *err) {
    if (prepare_winograd1d(net)) {
        inception_release(net);
        return dd_fail(err, DD_ERR_NOMEM, "out of memory transforming the 1x7/7x1 kernels");
    }
    for (int i = 0; i < INCEPTION_N_CONVS; i++) {
        const conv_spec *s = &INCEPTION_CONVS[i];
        const window g = {.kh = s->kh, .kw = s->kw, .sh = s->stride, .sw = s->stride};
        const int wino = conv2d_uses_winograd(&g); /* the test conv2d_forward/backward make */
        const int poly = conv2d_uses_polyphase(&g, s->cin);
        if (!net->kernel[i] || !(wino || poly) || net->wino[i]) continue;
        size_t n = wino ? winograd_kernel_size(s->kh, s->cin, s->cout) : polyphase_kernel_size(s->cin, s->cout);
        net->wino[i] = malloc(n * sizeof(float));
        net->wino_back[i] = malloc(n * sizeof(float));
        if (!net->wino[i] || !net->wino_back[i]) {
            inception_release(net);
            return dd_fail(err, DD_ERR_NOMEM, "out of memory transforming the kernels for Winograd");
        }
        for (int backward = 0; backward < 2; backward++) {
            float *u = backward ? net->wino_back[i] : net->wino[i];
            if (wino) winograd_kernel_transform(u, net->kernel[i], s->kh, s->cin, s->cout, backward);
            else polyphase_kernel_transform(u, net->kernel[i], s->cin, s->cout, backward);
        }
    }
    return DD_OK;
}

void inception_release(inception_net *net) {
    for (int i = 0; i < INCEPTION_N_CONVS; i++) {
        free(net->wino[i]);
        free(net->wino_back[i]);
        net->wino[i] = net->wino_back[i] = NULL;
    }
}

/* ---- planning ---- */

/* Output sizes of every tensor for an (h, w) input through mixed{depth}; 0 if too small. */
static int plan_shapes(const inception_net *net, net_tensor *t, window *win, int h, int w, int depth) {
    t[0].h = h;
    t[0].w = w;
    for (int i = 0; i < net->block_end[depth]; i++) {
        const net_op *op = &net->ops[i];
        win[i] = window_make(t[op->in].h, t[op->in].w, op->kh, op->kw, op->stride, op->same);
        if (win[i].ho <= 0 || win[i].wo <= 0) return 0;
        t[op->out].h = win[i].ho;
        t[op->out].w = win[i].wo;
    }
    return 1;
}

int inception_min_side(const inception_net *net, int depth) {
    net_tensor t[INCEPTION_MAX_TENSORS];
    window win[INCEPTION_MAX_OPS];
    int n = 1;
    while (n < INCEPTION_MAX_SIDE && !plan_shapes(net, t, win, n, n, depth)) n++;
    return n;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    free(p);
    *cap = 0;
    p = malloc(need * elem);
    if (p) *cap = need;
    return p;
}

static const char *block_names[INCEPTION_N_BLOCKS] = {
    "mixed0", "mixed1", "mixed2", "mixed3", "mixed4", "mixed5",
    "mixed6", "mixed7", "mixed8", "mixed9", "mixed10"};

dd_status inception_check(const inception_net *net, int h, int w, int depth, dd_error *err) {
    if (depth < 0 || depth >= INCEPTION_N_BLOCKS)
        return dd_fail(err, DD_ERR_VALUE, "layer index %d is not one of mixed0..mixed10", depth);
    for (int i = 0; i < net->block_end[depth]; i++) {
        const net_op *op = &net->ops[i];
        if (op->kind == OP_CONV && (!net->kernel[op->conv] || !net->bias[op->conv]))
            return dd_fail(err, DD_ERR_WEIGHTS,
                           "%s needs kernel conv2d_%d, which the loaded weights lack (the shipped "
                           "weights stop at mixed8); use complete weights converted from Keras' h5: "
                           "deepdream.weights.fetch_keras_weights() or convert_keras_h5()",
                           block_names[depth], op->conv + 1);
    }
    if (h > INCEPTION_MAX_SIDE || w > INCEPTION_MAX_SIDE)
        return dd_fail(err, DD_ERR_VALUE, "input of %dx%d is too large: at most %d pixels a side",
                       h, w, INCEPTION_MAX_SIDE);
    net_tensor t[INCEPTION_MAX_TENSORS];
    window win[INCEPTION_MAX_OPS];
    if (h < 1 || w < 1 || !plan_shapes(net, t, win, h, w, depth)) {
        int m = inception_min_side(net, depth);
        return dd_fail(err, DD_ERR_VALUE,
                       "input of %dx%d is too small for %s: it needs at least %dx%d pixels", h, w,
                       block_names[depth], m, m);
    }
    return DD_OK;
}

int inception_block_shape(const inception_net *net, int h, int w, int block, int shape[3]) {
    net_tensor t[INCEPTION_MAX_TENSORS];
    window win[INCEPTION_MAX_OPS];
    if (!plan_shapes(net, t, win, h, w, block)) return 0;
    const net_tensor *bt = &t[net->block_tensor[block]];
    shape[0] = bt->h;
    shape[1] = bt->w;
    shape[2] = net->channels[net->block_tensor[block]];
    return 1;
}

double inception_macs(const inception_net *net, int h, int w, int depth) {
    net_tensor t[INCEPTION_MAX_TENSORS];
    window win[INCEPTION_MAX_OPS];
    if (!plan_shapes(net, t, win, h, w, depth)) return 0.0;
    double macs = 0.0;
    for (int i = 0; i < net->block_end[depth]; i++) {
        const net_op *op = &net->ops[i];
        if (op->kind != OP_CONV) continue;
        const conv_spec *s = &INCEPTION_CONVS[op->conv];
        macs += (double)win[i].ho * win[i].wo * s->kh * s->kw * s->cin * s->cout;
    }
    return macs;
}

dd_status inception_plan(const inception_net *net, inception_workspace *ws, int h, int w, int depth,
                         int threads, dd_error *err) {
    dd_status status = inception_check(net, h, w, depth, err);
    if (status != DD_OK) return status;
    net_tensor *t = ws->tensors;
    plan_shapes(net, t, ws->windows, h, w, depth);
    int n_tensors = net->block_tensors_end[depth];
    size_t act = 0, col = 0, argmax = 0;
    for (int i = 0; i < n_tensors; i++) {
        t[i].c = net->channels[i];
        size_t n = (size_t)t[i].h * t[i].w * t[i].c;
        if (n >= INT_MAX)
            return dd_fail(err, DD_ERR_VALUE, "input of %dx%d is too large: a layer would hold more "
                           "than 2^31 values", h, w);
        t[i].at = act;
        act += (n + 15) & ~(size_t)15; /* 64-byte aligned tensors */
    }
    for (int i = 0; i < net->block_end[depth]; i++) {
        const net_op *op = &net->ops[i];
        if (op->kind == OP_CONV) {
            size_t c = conv2d_scratch_size(&ws->windows[i], INCEPTION_CONVS[op->conv].cin,
                                           INCEPTION_CONVS[op->conv].cout, threads);
            if (c >= INT_MAX)
                return dd_fail(err, DD_ERR_VALUE, "input of %dx%d is too large for one pass; "
                               "dream it in tiles", h, w);
            if (c > col) col = c;
        } else if (op->kind == OP_MAXPOOL) {
            ws->argmax_at[i] = argmax;
            argmax += (size_t)ws->windows[i].ho * ws->windows[i].wo * t[op->in].c;
        }
    }
    ws->act = grow(ws->act, &ws->act_cap, act, sizeof(float));
    ws->grad = grow(ws->grad, &ws->grad_cap, act, sizeof(float));
    ws->col = grow(ws->col, &ws->col_cap, col, sizeof(float));
    ws->argmax = grow(ws->argmax, &ws->argmax_cap, argmax, sizeof(int));
    if (!ws->act || !ws->grad || (col && !ws->col) || (argmax && !ws->argmax)) {
        inception_workspace_free(ws);
        return dd_fail(err, DD_ERR_NOMEM, "out of memory planning a %dx%d pass (%zu MB)", h, w,
                       (2 * act + col + argmax) * 4 >> 20);
    }
    ws->h = h;
    ws->w = w;
    ws->depth = depth;
    ws->threads = threads;
    return DD_OK;
}

void inception_workspace_free(inception_workspace *ws) {
    free(ws->act);
    free(ws->grad);
    free(ws->col);
    free(ws->argmax);
    memset(ws, 0, sizeof(*ws));
}

/* ---- running ---- */

/* Wall seconds, for the per-op timers (C11's timespec_get: no OpenMP needed to build) */
static double now_seconds(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *at(float *arena, const net_tensor *t) { return arena + t->at; }

/* ---- the 1x1 convs that read one tensor, run together ---- */

/* The ops of the pointwise group that starts at op `first` and run up to mixed{depth}, in op
 * order, into idx; returns how many. */
static int group_members(const inception_net *net, int first, int depth, int *idx) {
    int n = 0;
    for (int i = first; i < net->block_end[depth]; i++)
        if (net->ops[i].in == net->ops[first].in) idx[n++] = i;
    return n;
}

/* The per-op timers get a group's seconds in proportion to its convs' output channels (the
 * same pixels and input for all). */
static void share_seconds(const inception_net *net, inception_workspace *ws, const int *idx, int n,
                          int backward, double seconds) {
    double total = 0.0;
    for (int j = 0; j < n; j++) total += INCEPTION_CONVS[net->ops[idx[j]].conv].cout;
    for (int j = 0; j < n; j++)
        ws->op_seconds[2 * idx[j] + backward] +=
            seconds * INCEPTION_CONVS[net->ops[idx[j]].conv].cout / total;
}

static void forward_group(const inception_net *net, inception_workspace *ws, int first) {
    int idx[MAX_GROUP], n = group_members(net, first, ws->depth, idx);
    conv2d_pointwise c[MAX_GROUP];
    for (int j = 0; j < n; j++) {
        const net_op *op = &net->ops[idx[j]];
        const net_tensor *out = &ws->tensors[op->out];
        c[j] = (conv2d_pointwise){at(ws->act, out) + op->out_offset, out->c, NULL,
                                  net->kernel[op->conv], op->linear ? NULL : net->bias[op->conv],
                                  INCEPTION_CONVS[op->conv].cout};
    }
    const net_tensor *in = &ws->tensors[net->ops[first].in];
    double start = ws->op_seconds ? now_seconds() : 0.0;
    conv2d_forward_pointwise(c, n, at(ws->act, in), in->h * in->w, in->c, ws->threads);
    if (ws->op_seconds) share_seconds(net, ws, idx, n, 0, now_seconds() - start);
}

/* The group's gradients into its input's, in reverse op order (as op by op). */
static void backward_group(const inception_net *net, inception_workspace *ws, int first,
                           int accumulate) {
    int idx[MAX_GROUP], n = group_members(net, first, ws->depth, idx);
    conv2d_pointwise c[MAX_GROUP];
    for (int j = 0; j < n; j++) {
        const net_op *op = &net->ops[idx[n - 1 - j]];
        const net_tensor *out = &ws->tensors[op->out];
        const int masked = op->linear || net->grad_masked[op->out];
        c[j] = (conv2d_pointwise){at(ws->grad, out) + op->out_offset, out->c,
                                  masked ? NULL : at(ws->act, out) + op->out_offset,
                                  net->kernel[op->conv], NULL, INCEPTION_CONVS[op->conv].cout};
    }
    const net_tensor *in = &ws->tensors[net->ops[first].in];
    double start = ws->op_seconds ? now_seconds() : 0.0;
    conv2d_backward_pointwise(at(ws->grad, in), accumulate, c, n, in->h * in->w, in->c, ws->threads);
    if (ws->op_seconds) share_seconds(net, ws, idx, n, 1, now_seconds() - start);
}

void inception_forward(const inception_net *net, inception_workspace *ws, const float *x) {
    net_tensor *t = ws->tensors;
    const int threads = ws->threads;
    memcpy(at(ws->act, &t[0]), x, (size_t)t[0].h * t[0].w * 3 * sizeof(float));
    for (int i = 0; i < net->block_end[ws->depth]; i++) {
        const net_op *op = &net->ops[i];
        const window *g = &ws->windows[i];
        const net_tensor *in = &t[op->in], *out = &t[op->out];
        float *y = at(ws->act, out) + op->out_offset;
        const float *a = at(ws->act, in);
        const int group = net->pointwise_group[op->in];
        if (group >= 0) { /* the first of a group runs it all */
            if (group == i) forward_group(net, ws, i);
            continue;
        }
        double start = ws->op_seconds ? now_seconds() : 0.0;
        switch (op->kind) {
        case OP_CONV:
            conv2d_forward(y, out->c, ws->col, a, net->kernel[op->conv], net->wino[op->conv],
                           op->linear ? NULL : net->bias[op->conv], g, in->c,
                           INCEPTION_CONVS[op->conv].cout, threads);
            break;
        case OP_MAXPOOL:
            maxpool_forward(y, out->c, ws->argmax + ws->argmax_at[i], a, g, in->c,
                            net->grad_masked[op->in], threads);
            break;
        case OP_AVGPOOL:
            avgpool_forward(y, out->c, a, g, in->c, op->conv >= 0 ? net->bias[op->conv] : NULL,
                            threads);
            break;
        }
        if (ws->op_seconds) ws->op_seconds[2 * i] += now_seconds() - start;
    }
}

static size_t tensor_size(const net_tensor *t) { return (size_t)t->h * t->w * t->c; }

double inception_loss(const inception_net *net, const inception_workspace *ws, unsigned layer_mask) {
    double loss = 0.0;
    for (int b = 0; b <= ws->depth; b++) {
        if (!(layer_mask & (1u << b))) continue;
        const net_tensor *t = &ws->tensors[net->block_tensor[b]];
        const float *a = ws->act + t->at;
        size_t n = tensor_size(t);
        loss += reduce_sum(a, n, ws->threads) / (double)n;
    }
    return loss;
}

void inception_backward(const inception_net *net, inception_workspace *ws, unsigned layer_mask,
                        float *dx) {
    net_tensor *t = ws->tensors;
    const int threads = ws->threads;
    /* No zeroing: the first op to reach a tensor's gradient writes it, the others add to it. */
    unsigned char written[INCEPTION_MAX_TENSORS] = {0};
    for (int b = 0; b <= ws->depth; b++) {
        if (!(layer_mask & (1u << b))) continue;
        const net_tensor *bt = &t[net->block_tensor[b]];
        size_t n = tensor_size(bt);
        float seed = (float)(1.0 / (double)n);
        float *g = at(ws->grad, bt);
        for (size_t i = 0; i < n; i++) g[i] = seed;
        written[net->block_tensor[b]] = 1;
    }
    for (int i = net->block_end[ws->depth] - 1; i >= 0; i--) {
        const net_op *op = &net->ops[i];
        const window *g = &ws->windows[i];
        const net_tensor *in = &t[op->in], *out = &t[op->out];
        float *dy = at(ws->grad, out) + op->out_offset;
        float *da = at(ws->grad, in);
        const int accumulate = written[op->in], group = net->pointwise_group[op->in];
        if (group >= 0) { /* run by the group's first op, the last one here */
            if (group == i) {
                backward_group(net, ws, i, accumulate);
                written[op->in] = 1;
            }
            continue;
        }
        written[op->in] = 1;
        double start = ws->op_seconds ? now_seconds() : 0.0;
        switch (op->kind) {
        case OP_CONV:
            conv2d_backward(da, dy, out->c, ws->col, at(ws->act, out) + op->out_offset,
                            net->kernel[op->conv], net->wino_back[op->conv], g, in->c,
                            INCEPTION_CONVS[op->conv].cout, accumulate,
                            op->linear || net->grad_masked[op->out],
                            net->grad_masked[op->in] ? at(ws->act, in) : NULL, threads);
            break;
        case OP_MAXPOOL:
            maxpool_backward(da, dy, out->c, ws->argmax + ws->argmax_at[i], g, in->c, accumulate,
                             threads);
            break;
        case OP_AVGPOOL:
            avgpool_backward(da, dy, out->c, op->conv >= 0 ? at(ws->act, out) + op->out_offset : NULL,
                             g, in->c, accumulate, threads);
            break;
        }
        if (ws->op_seconds) ws->op_seconds[2 * i + 1] += now_seconds() - start;
    }
    memcpy(dx, at(ws->grad, &t[0]), (size_t)t[0].h * t[0].w * 3 * sizeof(float));
}

const float *inception_block_output(const inception_net *net, const inception_workspace *ws, int block,
                                    const net_tensor **t) {
    *t = &ws->tensors[net->block_tensor[block]];
    return ws->act + (*t)->at;
}
