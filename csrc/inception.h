/* InceptionV3 (Keras' architecture, include_top=False) as a table of ops over NHWC float32
 * tensors: forward as deep as the deepest requested mixed layer, and backward from the
 * DeepDream loss (sum over requested layers of the mean activation) to the input image. */
#ifndef DD_INCEPTION_H
#define DD_INCEPTION_H

#include <stddef.h>

#include "status.h"
#include "window.h"

#define INCEPTION_N_CONVS 94  /* Keras conv2d_1 .. conv2d_94 */
#define INCEPTION_N_BLOCKS 11 /* mixed0 .. mixed10 */
#define INCEPTION_MAX_OPS 128
#define INCEPTION_MAX_TENSORS 96
#define INCEPTION_MAX_SIDE 16384

typedef struct {
    int kh, kw, cin, cout, stride, same;
} conv_spec;

typedef enum { OP_CONV, OP_MAXPOOL, OP_AVGPOOL } op_kind;

typedef struct {
    op_kind kind;
    int conv;           /* OP_CONV: index into the conv table (conv2d_{conv+1}) */
    int in, out;        /* tensor indices */
    int out_offset;     /* first channel of this op's output in tensor `out` */
    int linear;         /* OP_CONV: no bias or ReLU (the average pool after it applies them) */
    int kh, kw, stride, same;
} net_op;

typedef struct {
    net_op ops[INCEPTION_MAX_OPS];
    int n_ops;
    int n_tensors;
    int channels[INCEPTION_MAX_TENSORS];            /* channels of each tensor */
    int block_tensor[INCEPTION_N_BLOCKS];           /* output tensor of mixed{b} */
    int block_end[INCEPTION_N_BLOCKS];              /* ops [0, block_end[b]) compute mixed{b} */
    int block_tensors_end[INCEPTION_N_BLOCKS];      /* tensors [0, end) are used up to mixed{b} */
    /* 1 for a tensor made by ReLU convs and read by one op, a max pool or a 2-D Winograd conv,
     * whose backward applies those convs' ReLU mask as it writes the gradient (for free): the
     * convs' own backward then skips it */
    unsigned char grad_masked[INCEPTION_MAX_TENSORS];
    /* For a tensor read only by 1x1 convs, two or more (a block's input): the first of them, which
     * runs them all (conv2d_forward/backward_pointwise); else -1 */
    int pointwise_group[INCEPTION_MAX_TENSORS];
    const float *kernel[INCEPTION_N_CONVS];         /* (kh, kw, cin, cout), NULL if missing */
    const float *bias[INCEPTION_N_CONVS];           /* (cout) */
    float *wino[INCEPTION_N_CONVS];                 /* Winograd kernels (2-D, 1-D, polyphase), owned */
    float *wino_back[INCEPTION_N_CONVS];            /* and for their backward pass, owned */
} inception_net;

typedef struct {
    int h, w, c;
    size_t at; /* offset in floats into the activation and gradient arenas */
} net_tensor;

/* Everything one forward+backward pass needs for one input size: planned once, reused while
 * the input fits (tiles of one size reuse it for a whole dream). */
typedef struct {
    int h, w, depth;                      /* planned input size, deepest block (0..10) */
    int threads;                          /* threads the ops use (>= 1) */
    net_tensor tensors[INCEPTION_MAX_TENSORS];
    window windows[INCEPTION_MAX_OPS];
    size_t argmax_at[INCEPTION_MAX_OPS];  /* offset into argmax, for max pools */
    float *act, *grad, *col;
    int *argmax;
    size_t act_cap, grad_cap, col_cap, argmax_cap; /* allocated sizes, in elements */
    double *op_seconds; /* NULL, or 2 per op: wall seconds of its forward and backward, added to */
} inception_workspace;

extern const conv_spec INCEPTION_CONVS[INCEPTION_N_CONVS];

void inception_init(inception_net *net);

/* After the kernels are set: transforms the 3x3 and 5x5 stride-1 kernels for Winograd. */
dd_status inception_prepare(inception_net *net, dd_error *err);

/* Frees what inception_prepare allocated. */
void inception_release(inception_net *net);

/* Smallest input side that reaches mixed{depth}. */
int inception_min_side(const inception_net *net, int depth);

/* Checks, without allocating, that an (h, w) input can reach mixed{depth} with these weights. */
dd_status inception_check(const inception_net *net, int h, int w, int depth, dd_error *err);

/* Shape (h, w, c) of mixed{block} for an (h, w) input; 0 if the input is too small. */
int inception_block_shape(const inception_net *net, int h, int w, int block, int shape[3]);

/* Multiply-adds of the convolutions of one forward pass through mixed{depth} for an (h, w)
 * input (the backward pass to the input costs the same again, less conv2d_1's); 0 if too small. */
double inception_macs(const inception_net *net, int h, int w, int depth);

/* Sizes the workspace for an (h, w, 3) input through mixed{depth}; checks size and weights. */
dd_status inception_plan(const inception_net *net, inception_workspace *ws, int h, int w, int depth,
                         int threads, dd_error *err);

void inception_workspace_free(inception_workspace *ws);

/* x: (h, w, 3) as planned. Runs ops up to mixed{ws->depth}. */
void inception_forward(const inception_net *net, inception_workspace *ws, const float *x);

/* Sum over the blocks in layer_mask (bit b = mixed{b}) of the mean activation. */
double inception_loss(const inception_net *net, const inception_workspace *ws, unsigned layer_mask);

/* d loss / d x into dx (h, w, 3), after inception_forward with the same workspace. */
void inception_backward(const inception_net *net, inception_workspace *ws, unsigned layer_mask,
                        float *dx);

/* The activation of mixed{block} after a forward pass: (t->h, t->w, t->c) at the returned pointer. */
const float *inception_block_output(const inception_net *net, const inception_workspace *ws, int block,
                                    const net_tensor **t);

#endif
