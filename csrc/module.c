/* The one door between Python and the C core: argument checks, array conversion, GIL release,
 * and status -> exception. Everything behind it is plain C over plain buffers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define NPY_NO_DEPRECATED_API NPY_1_20_API_VERSION
#include <numpy/arrayobject.h>

#include "avgpool.h"
#include "blas.h"
#include "conv2d.h"
#include "dream.h"
#include "gemm.h"
#include "inception.h"
#include "maxpool.h"
#include "resize.h"
#include "polyphase.h"
#include "winograd.h"
#include "winograd1d.h"

/* ---- helpers ---- */

static PyObject *raise_status(dd_status status, const dd_error *err) {
    if (status == DD_ERR_INTERRUPTED) return NULL; /* the callback's exception is already set */
    PyErr_SetString(status == DD_ERR_NOMEM ? PyExc_MemoryError : PyExc_ValueError, err->msg);
    return NULL;
}

/* A C-contiguous aligned float32 array of `ndim` dims from any array-like (views are copied).
 * New reference, or NULL with a TypeError/ValueError naming `what`. */
static PyArrayObject *as_float32_flags(PyObject *obj, int ndim, const char *what, int flags) {
    PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(obj, NPY_FLOAT32, 0, 0,
                                                         NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST | flags);
    if (!a) return NULL;
    if (PyArray_NDIM(a) != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d dimensions, got %d", what, ndim,
                     PyArray_NDIM(a));
        Py_DECREF(a);
        return NULL;
    }
    /* the core indexes with int and never expects an empty axis */
    if (PyArray_SIZE(a) < 1 || PyArray_SIZE(a) >= INT_MAX) {
        PyErr_Format(PyExc_ValueError, "%s must hold 1 to 2^31-2 values, got %zd (an empty or "
                     "too large array)", what, (Py_ssize_t)PyArray_SIZE(a));
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

static PyArrayObject *as_float32(PyObject *obj, int ndim, const char *what) {
    return as_float32_flags(obj, ndim, what, 0);
}

/* An (H, W, 3) float32 image. */
static PyArrayObject *as_image(PyObject *obj, const char *what) {
    PyArrayObject *a = as_float32(obj, 3, what);
    if (a && PyArray_DIM(a, 2) != 3) {
        PyErr_Format(PyExc_ValueError, "%s must have 3 channels (H, W, 3), got shape (%zd, %zd, %zd)",
                     what, (Py_ssize_t)PyArray_DIM(a, 0), (Py_ssize_t)PyArray_DIM(a, 1),
                     (Py_ssize_t)PyArray_DIM(a, 2));
        Py_CLEAR(a);
    }
    if (a && (PyArray_DIM(a, 0) < 1 || PyArray_DIM(a, 1) < 1 ||
              PyArray_DIM(a, 0) > INCEPTION_MAX_SIDE || PyArray_DIM(a, 1) > INCEPTION_MAX_SIDE)) {
        PyErr_Format(PyExc_ValueError, "%s must be between 1 and %d pixels a side, got %zdx%zd",
                     what, INCEPTION_MAX_SIDE, (Py_ssize_t)PyArray_DIM(a, 0),
                     (Py_ssize_t)PyArray_DIM(a, 1));
        Py_CLEAR(a);
    }
    return a;
}

/* Every step's (dy, dx) is held at once, and dream.c counts 2 per step in an int. */
#define DREAM_MAX_STEPS (1 << 24)

static int all_finite(PyArrayObject *a) {
    const float *v = PyArray_DATA(a);
    for (npy_intp i = 0; i < PyArray_SIZE(a); i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* A (h, w, c) result the ops can index with int. */
static int check_op_size(long long h, long long w, long long c, const char *what) {
    if (h >= 1 && w >= 1 && c >= 1 && h * w * c < INT_MAX) return 1;
    PyErr_Format(PyExc_ValueError, "%s of %lldx%lldx%lld is empty or holds 2^31 or more values",
                 what, h, w, c);
    return 0;
}

static PyArrayObject *new_float32(int ndim, npy_intp *dims) {
    return (PyArrayObject *)PyArray_SimpleNew(ndim, dims, NPY_FLOAT32);
}

/* Layers given as a sequence of block indices 0..10 -> bit mask and deepest block. */
static int parse_layers(PyObject *seq, unsigned *mask, int *depth) {
    PyObject *fast = PySequence_Fast(seq, "layers must be a sequence of block indices 0..10");
    if (!fast) return 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    *mask = 0;
    *depth = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        long b = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (b == -1 && PyErr_Occurred()) break;
        if (b < 0 || b >= INCEPTION_N_BLOCKS) {
            PyErr_Format(PyExc_ValueError, "layer index %ld is not one of 0..10 (mixed0..mixed10)", b);
            break;
        }
        *mask |= 1u << b;
        if (b > *depth) *depth = (int)b;
    }
    Py_DECREF(fast);
    if (PyErr_Occurred()) return 0;
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "layers must name at least one mixed layer");
        return 0;
    }
    return 1;
}

static int check_threads(int threads) {
    if (threads >= 1 && threads <= 1024) return 1;
    PyErr_Format(PyExc_ValueError, "threads must be 1..1024, got %d", threads);
    return 0;
}

/* ---- Network: the graph, the weights (references kept), one cached workspace ---- */

typedef struct {
    PyObject_HEAD
    inception_net net;
    PyObject *arrays;            /* list keeping every kernel and bias array alive */
    inception_workspace ws;      /* reused by calls that get the lock */
    PyThread_type_lock ws_lock;
} NetworkObject;

static void Network_dealloc(NetworkObject *self) {
    inception_workspace_free(&self->ws);
    inception_release(&self->net);
    if (self->ws_lock) PyThread_free_lock(self->ws_lock);
    Py_XDECREF(self->arrays);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Network(convs): convs is a sequence of 94 items, each None (missing) or (kernel, bias), kernel
 * float32 C-contiguous (kh, kw, cin, cout) as in the conv table, bias float32 (cout,). */
static int Network_init(NetworkObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"convs", NULL};
    PyObject *convs;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &convs)) return -1;
    if (self->arrays) {
        PyErr_SetString(PyExc_RuntimeError, "Network is already initialised");
        return -1;
    }
    inception_init(&self->net);
    self->ws_lock = PyThread_allocate_lock();
    self->arrays = PyList_New(0);
    if (!self->ws_lock || !self->arrays) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *fast = PySequence_Fast(convs, "convs must be a sequence of 94 (kernel, bias) or None");
    if (!fast) return -1;
    if (PySequence_Fast_GET_SIZE(fast) != INCEPTION_N_CONVS) {
        PyErr_Format(PyExc_ValueError, "convs must hold %d entries (conv2d_1..conv2d_94), got %zd",
                     INCEPTION_N_CONVS, PySequence_Fast_GET_SIZE(fast));
        goto fail;
    }
    for (int i = 0; i < INCEPTION_N_CONVS; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        if (item == Py_None) continue;
        const conv_spec *s = &INCEPTION_CONVS[i];
        PyObject *kernel, *bias;
        /* PyArg_ParseTuple on a non-tuple is a SystemError, not a TypeError: check first */
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError, "conv2d_%d must be a (kernel, bias) tuple or None, got %s",
                         i + 1, Py_TYPE(item)->tp_name);
            goto fail;
        }
        kernel = PyTuple_GET_ITEM(item, 0);
        bias = PyTuple_GET_ITEM(item, 1);
        npy_intp kshape[4] = {s->kh, s->kw, s->cin, s->cout}, bshape[1] = {s->cout};
        PyObject *pair[2] = {kernel, bias};
        npy_intp *shape[2] = {kshape, bshape};
        for (int j = 0; j < 2; j++) {
            PyArrayObject *a = (PyArrayObject *)pair[j];
            int ndim = j ? 1 : 4;
            if (!PyArray_Check(pair[j]) || PyArray_TYPE(a) != NPY_FLOAT32 ||
                !PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a) || PyArray_NDIM(a) != ndim ||
                memcmp(PyArray_DIMS(a), shape[j], ndim * sizeof(npy_intp)) != 0) {
                PyErr_Format(PyExc_ValueError,
                             "conv2d_%d %s must be a C-contiguous float32 array of shape %s",
                             i + 1, j ? "bias" : "kernel", j ? "(cout,)" : "(kh, kw, cin, cout)");
                goto fail;
            }
            if (PyList_Append(self->arrays, pair[j]) < 0) goto fail;
        }
        self->net.kernel[i] = PyArray_DATA((PyArrayObject *)kernel);
        self->net.bias[i] = PyArray_DATA((PyArrayObject *)bias);
    }
    Py_DECREF(fast);
    dd_error err;
    dd_status status = inception_prepare(&self->net, &err);
    if (status != DD_OK) {
        raise_status(status, &err);
        return -1;
    }
    return 0;
fail:
    Py_DECREF(fast);
    return -1;
}

static int Network_ready(NetworkObject *self) {
    if (self->arrays) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Network was not initialised");
    return 0;
}

/* Runs forward (and backward when dx != NULL) with the cached workspace when free, else with a
 * workspace of its own; `use` copies what the caller needs out before the workspace goes. */
typedef void (*ws_user)(const inception_net *, inception_workspace *, void *);

static dd_status with_workspace(NetworkObject *self, int h, int w, int depth, int threads, ws_user use,
                                void *ctx, dd_error *err) {
    dd_status status;
    Py_BEGIN_ALLOW_THREADS
    inception_workspace local = {0};
    int cached = PyThread_acquire_lock(self->ws_lock, NOWAIT_LOCK);
    inception_workspace *ws = cached ? &self->ws : &local;
    status = inception_plan(&self->net, ws, h, w, depth, threads, err);
    if (status == DD_OK) use(&self->net, ws, ctx);
    if (cached)
        PyThread_release_lock(self->ws_lock);
    else
        inception_workspace_free(&local);
    Py_END_ALLOW_THREADS
    return status;
}

typedef struct {
    const float *x;
    unsigned mask;
    float *out[INCEPTION_N_BLOCKS]; /* activations (copied out) */
    float *dx;
    double loss;
    double *op_seconds; /* profile: per op forward and backward seconds, summed over repeats */
    int repeats;
    int *op_out;        /* profile: per op output height and width */
} pass_ctx;

static void run_activations(const inception_net *net, inception_workspace *ws, void *p) {
    pass_ctx *ctx = p;
    inception_forward(net, ws, ctx->x);
    for (int b = 0; b < INCEPTION_N_BLOCKS; b++) {
        if (!(ctx->mask & (1u << b))) continue;
        const net_tensor *t;
        const float *a = inception_block_output(net, ws, b, &t);
        memcpy(ctx->out[b], a, (size_t)t->h * t->w * t->c * sizeof(float));
    }
}

static void run_gradient(const inception_net *net, inception_workspace *ws, void *p) {
    pass_ctx *ctx = p;
    inception_forward(net, ws, ctx->x);
    ctx->loss = inception_loss(net, ws, ctx->mask);
    inception_backward(net, ws, ctx->mask, ctx->dx);
}

static void run_profile(const inception_net *net, inception_workspace *ws, void *p) {
    pass_ctx *ctx = p;
    ws->op_seconds = ctx->op_seconds;
    for (int r = 0; r < ctx->repeats; r++) run_gradient(net, ws, ctx);
    ws->op_seconds = NULL;
    for (int i = 0; i < net->block_end[ws->depth]; i++) {
        ctx->op_out[2 * i] = ws->windows[i].ho;
        ctx->op_out[2 * i + 1] = ws->windows[i].wo;
    }
}

/* (x, layers[, threads]) of activations and loss_and_gradient; 0 with an exception set */
static int parse_pass_args(NetworkObject *self, PyObject *args, PyObject **xobj, PyObject **layers,
                           int *threads) {
    *threads = 1;
    return Network_ready(self) && PyArg_ParseTuple(args, "OO|i", xobj, layers, threads) &&
           check_threads(*threads);
}

static PyObject *Network_activations(NetworkObject *self, PyObject *args) {
    PyObject *xobj, *layers, *result = NULL;
    int threads;
    if (!parse_pass_args(self, args, &xobj, &layers, &threads)) return NULL;
    pass_ctx ctx = {0};
    int depth;
    if (!parse_layers(layers, &ctx.mask, &depth)) return NULL;
    PyArrayObject *x = as_image(xobj, "x"), *outs[INCEPTION_N_BLOCKS] = {0};
    if (!x) return NULL;
    int h = (int)PyArray_DIM(x, 0), w = (int)PyArray_DIM(x, 1);
    ctx.x = PyArray_DATA(x);
    dd_error err = {{0}};
    dd_status status = DD_OK;
    status = inception_check(&self->net, h, w, depth, &err);
    for (int b = 0; status == DD_OK && b < INCEPTION_N_BLOCKS; b++) {
        if (!(ctx.mask & (1u << b))) continue;
        int shape[3];
        inception_block_shape(&self->net, h, w, b, shape);
        npy_intp dims[3] = {shape[0], shape[1], shape[2]};
        outs[b] = new_float32(3, dims);
        if (!outs[b]) goto done;
        ctx.out[b] = PyArray_DATA(outs[b]);
    }
    if (status != DD_OK) goto done;
    status = with_workspace(self, h, w, depth, threads, run_activations, &ctx, &err);
    if (status != DD_OK) goto done;
    result = PyDict_New();
    for (int b = 0; result && b < INCEPTION_N_BLOCKS; b++) {
        if (!outs[b]) continue;
        PyObject *key = PyLong_FromLong(b);
        if (!key || PyDict_SetItem(result, key, (PyObject *)outs[b]) < 0) Py_CLEAR(result);
        Py_XDECREF(key);
    }
done:
    if (status != DD_OK) raise_status(status, &err);
    for (int b = 0; b < INCEPTION_N_BLOCKS; b++) Py_XDECREF(outs[b]);
    Py_DECREF(x);
    return result;
}

/* One gradient pass (`use`: run_gradient or run_profile) on image xobj through the blocks in
 * `layers`: ctx gets x, dx, the mask and the deepest block; returns dx, or NULL with an error set. */
static PyArrayObject *gradient_pass(NetworkObject *self, PyObject *xobj, PyObject *layers, int threads,
                                    ws_user use, pass_ctx *ctx, int *depth) {
    if (!parse_layers(layers, &ctx->mask, depth)) return NULL;
    PyArrayObject *x = as_image(xobj, "x");
    if (!x) return NULL;
    PyArrayObject *dx = new_float32(3, PyArray_DIMS(x));
    if (!dx) {
        Py_DECREF(x);
        return NULL;
    }
    ctx->x = PyArray_DATA(x);
    ctx->dx = PyArray_DATA(dx);
    dd_error err = {{0}};
    dd_status status = with_workspace(self, (int)PyArray_DIM(x, 0), (int)PyArray_DIM(x, 1), *depth,
                                      threads, use, ctx, &err);
    Py_DECREF(x);
    if (status != DD_OK) {
        Py_DECREF(dx);
        raise_status(status, &err);
        return NULL;
    }
    return dx;
}

static PyObject *Network_loss_and_gradient(NetworkObject *self, PyObject *args) {
    PyObject *xobj, *layers;
    int threads;
    if (!parse_pass_args(self, args, &xobj, &layers, &threads)) return NULL;
    pass_ctx ctx = {0};
    int depth;
    PyArrayObject *dx = gradient_pass(self, xobj, layers, threads, run_gradient, &ctx, &depth);
    return dx ? Py_BuildValue("(dN)", ctx.loss, dx) : NULL;
}

/* profile(x, blocks, repeats, threads) -> [(kind, conv, (ho, wo), forward_s, backward_s)] per op
 * run, in forward order: kind "conv" (conv = N of conv2d_N), "maxpool" or "avgpool" (conv = 0),
 * the op's output size; seconds summed over `repeats` forward+backward passes. */
static PyObject *Network_profile(NetworkObject *self, PyObject *args) {
    PyObject *xobj, *layers;
    int repeats, threads;
    if (!Network_ready(self) || !PyArg_ParseTuple(args, "OOii", &xobj, &layers, &repeats, &threads) ||
        !check_threads(threads))
        return NULL;
    if (repeats < 1 || repeats > 1000) {
        PyErr_Format(PyExc_ValueError, "repeats must be 1..1000, got %d", repeats);
        return NULL;
    }
    double seconds[2 * INCEPTION_MAX_OPS] = {0};
    int out_hw[2 * INCEPTION_MAX_OPS] = {0};
    pass_ctx ctx = {.op_seconds = seconds, .op_out = out_hw, .repeats = repeats};
    int depth;
    PyArrayObject *dx = gradient_pass(self, xobj, layers, threads, run_profile, &ctx, &depth);
    if (!dx) return NULL;
    Py_DECREF(dx);
    static const char *kinds[] = {"conv", "maxpool", "avgpool"};
    int n = self->net.block_end[depth];
    PyObject *list = PyList_New(n);
    for (int i = 0; list && i < n; i++) {
        const net_op *op = &self->net.ops[i];
        PyObject *item = Py_BuildValue("(si(ii)dd)", kinds[op->kind],
                                       op->kind == OP_CONV ? op->conv + 1 : 0, out_hw[2 * i],
                                       out_hw[2 * i + 1], seconds[2 * i], seconds[2 * i + 1]);
        if (!item) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static PyObject *Network_min_side(NetworkObject *self, PyObject *args) {
    int depth;
    if (!Network_ready(self) || !PyArg_ParseTuple(args, "i", &depth)) return NULL;
    if (depth < 0 || depth >= INCEPTION_N_BLOCKS) {
        PyErr_Format(PyExc_ValueError, "depth must be 0..10, got %d", depth);
        return NULL;
    }
    return PyLong_FromLong(inception_min_side(&self->net, depth));
}

static PyObject *Network_macs(NetworkObject *self, PyObject *args) {
    int h, w, depth;
    if (!Network_ready(self) || !PyArg_ParseTuple(args, "iii", &h, &w, &depth)) return NULL;
    if (depth < 0 || depth >= INCEPTION_N_BLOCKS) {
        PyErr_Format(PyExc_ValueError, "depth must be 0..10, got %d", depth);
        return NULL;
    }
    if (h < 1 || w < 1 || h > INCEPTION_MAX_SIDE || w > INCEPTION_MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "h and w must be 1..%d, got %dx%d", INCEPTION_MAX_SIDE, h, w);
        return NULL;
    }
    return PyFloat_FromDouble(inception_macs(&self->net, h, w, depth));
}

static PyObject *Network_can_compute(NetworkObject *self, PyObject *args) {
    int depth;
    if (!Network_ready(self) || !PyArg_ParseTuple(args, "i", &depth)) return NULL;
    dd_error err;
    dd_status status = inception_check(&self->net, INCEPTION_MAX_SIDE, INCEPTION_MAX_SIDE, depth, &err);
    if (status == DD_ERR_VALUE) return raise_status(status, &err);
    return PyBool_FromLong(status == DD_OK);
}

static PyObject *Network_missing(NetworkObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!Network_ready(self)) return NULL;
    PyObject *list = PyList_New(0);
    for (int i = 0; list && i < INCEPTION_N_CONVS; i++) {
        if (self->net.kernel[i]) continue;
        PyObject *n = PyLong_FromLong(i + 1);
        if (!n || PyList_Append(list, n) < 0) Py_CLEAR(list);
        Py_XDECREF(n);
    }
    return list;
}


/* ---- the dream loop: GIL released, taken back between tiles for signals and the callback ---- */

typedef struct {
    PyThreadState *save;
    PyObject *callback; /* callback(octave, step, loss, image or None) -> stop?, or None */
    int with_image;     /* hand the callback a copy of the image (costs a copy per step) */
} dream_ctx;

static int dream_on_progress(void *p_ctx, const dream_progress *p) {
    dream_ctx *c = p_ctx;
    PyEval_RestoreThread(c->save);
    int r = PyErr_CheckSignals() < 0 ? -1 : 0;
    if (r == 0 && c->callback != Py_None && p->tile == p->n_tiles) {
        npy_intp dims[3] = {p->h, p->w, 3};
        PyObject *img = Py_None, *res = NULL;
        Py_INCREF(img);
        if (c->with_image) {
            Py_DECREF(img);
            img = (PyObject *)new_float32(3, dims);
            if (img) memcpy(PyArray_DATA((PyArrayObject *)img), p->img, (size_t)p->h * p->w * 3 * sizeof(float));
        }
        if (img) res = PyObject_CallFunction(c->callback, "iidN", p->octave, p->step, p->loss, img);
        r = res ? PyObject_IsTrue(res) : -1;
        if (r < 0) r = -1;
        Py_XDECREF(res);
    }
    c->save = PyEval_SaveThread();
    return r;
}

/* dream(img, blocks, sizes, steps, step_size, tile_size, cover, shifts, seed, callback)
 *   -> the image at the last octave's size (or so far, if the callback stopped it) */
static PyObject *Network_dream(NetworkObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"img", "blocks", "sizes", "steps", "step_size", "tile_size", "cover",
                             "shifts", "seed", "callback", "threads", "with_image", NULL};
    PyObject *imgo, *layers, *sizeso, *shiftso, *callback;
    int steps, tile_size, cover, threads = 1, with_image = 1;
    float step_size;
    unsigned long long seed;
    if (!Network_ready(self) ||
        !PyArg_ParseTupleAndKeywords(args, kwds, "OOOifipOKO|ip", kwlist, &imgo, &layers, &sizeso,
                                     &steps, &step_size, &tile_size, &cover, &shiftso, &seed,
                                     &callback, &threads, &with_image) ||
        !check_threads(threads))
        return NULL;
    dream_params p = {0};
    int depth;
    if (!parse_layers(layers, &p.layer_mask, &depth)) return NULL;
    if (steps < 1 || tile_size < 1 || tile_size > INCEPTION_MAX_SIDE || !(step_size > 0.0f) ||
        !isfinite(step_size)) {
        PyErr_Format(PyExc_ValueError, "need steps >= 1 (got %d), tile_size 1..%d (got %d) and a "
                     "positive finite float32 step_size (got %g)", steps, INCEPTION_MAX_SIDE,
                     tile_size, (double)step_size);
        return NULL;
    }
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "callback must be callable or None");
        return NULL;
    }
    p.steps = steps;
    p.step_size = step_size;
    p.tile_size = tile_size;
    p.tiles = cover ? TILES_COVER : TILES_TUTORIAL;
    p.seed = seed;
    p.threads = threads;
    PyArrayObject *img = as_image(imgo, "img"), *out = NULL, *shifts = NULL, *sizes = NULL;
    PyObject *result = NULL;
    if (!img || !(sizes = (PyArrayObject *)PyArray_FROMANY(sizeso, NPY_INT32, 2, 2, NPY_ARRAY_IN_ARRAY)))
        goto done;
    int n_octaves = (int)PyArray_DIM(sizes, 0);
    const int *sz = PyArray_DATA(sizes);
    if (PyArray_DIM(sizes, 0) < 1 || PyArray_DIM(sizes, 0) > DREAM_MAX_STEPS ||
        PyArray_DIM(sizes, 1) != 2) {
        PyErr_SetString(PyExc_ValueError, "sizes must be a non-empty list of (h, w)");
        goto done;
    }
    /* every step's shift is held at once: keep their count (and 2 * count) within an int */
    if ((long long)steps * n_octaves > DREAM_MAX_STEPS) {
        PyErr_Format(PyExc_ValueError, "steps x octaves is %lld; at most %d steps in one dream",
                     (long long)steps * n_octaves, DREAM_MAX_STEPS);
        goto done;
    }
    for (int o = 0; o < n_octaves; o++) {
        if (sz[2 * o] < 1 || sz[2 * o + 1] < 1 || sz[2 * o] > INCEPTION_MAX_SIDE ||
            sz[2 * o + 1] > INCEPTION_MAX_SIDE) {
            PyErr_Format(PyExc_ValueError, "octave size %dx%d is outside 1..%d pixels a side",
                         sz[2 * o], sz[2 * o + 1], INCEPTION_MAX_SIDE);
            goto done;
        }
    }
    if (shiftso != Py_None) {
        shifts = (PyArrayObject *)PyArray_FROMANY(shiftso, NPY_INT32, 2, 2, NPY_ARRAY_IN_ARRAY);
        if (!shifts) goto done;
        if (PyArray_DIM(shifts, 0) != (npy_intp)steps * n_octaves || PyArray_DIM(shifts, 1) != 2) {
            PyErr_Format(PyExc_ValueError, "shifts must be %d (dy, dx) pairs (steps x octaves), got "
                         "shape (%zd, %zd)", steps * n_octaves, (Py_ssize_t)PyArray_DIM(shifts, 0),
                         (Py_ssize_t)PyArray_DIM(shifts, 1));
            goto done;
        }
        p.shifts = PyArray_DATA(shifts);
    }
    if (!all_finite(img)) {
        PyErr_SetString(PyExc_ValueError, "img holds NaN or Inf values; expected finite values in [-1, 1]");
        goto done;
    }
    npy_intp dims[3] = {sz[2 * (n_octaves - 1)], sz[2 * (n_octaves - 1) + 1], 3};
    out = new_float32(3, dims);
    if (!out) goto done;
    dd_error err = {{0}};
    dream_ctx ctx = {NULL, callback, with_image};
    ctx.save = PyEval_SaveThread();
    dd_status status = dream_octaves(&self->net, &p, PyArray_DATA(img), (int)PyArray_DIM(img, 0),
                                     (int)PyArray_DIM(img, 1), sz, n_octaves, PyArray_DATA(out),
                                     dream_on_progress, &ctx, &err);
    PyEval_RestoreThread(ctx.save);
    if (status != DD_OK) {
        raise_status(status, &err);
        goto done;
    }
    result = (PyObject *)out;
    out = NULL;
done:
    Py_XDECREF(img);
    Py_XDECREF(sizes);
    Py_XDECREF(shifts);
    Py_XDECREF(out);
    return result;
}

static PyMethodDef Network_methods[] = {
    {"activations", (PyCFunction)Network_activations, METH_VARARGS,
     "activations(x, blocks, threads=1) -> {block: (h, w, c) float32}"},
    {"loss_and_gradient", (PyCFunction)Network_loss_and_gradient, METH_VARARGS,
     "loss_and_gradient(x, blocks, threads=1) -> (loss, d loss / d x)"},
    {"dream", (PyCFunction)(void (*)(void))Network_dream, METH_VARARGS | METH_KEYWORDS,
     "dream(img, blocks, sizes, steps, step_size, tile_size, cover, shifts, seed, callback, threads=1, "
     "with_image=True) "
     "-> image at the last octave's size"},
    {"profile", (PyCFunction)Network_profile, METH_VARARGS,
     "profile(x, blocks, repeats, threads) -> [(kind, conv, (ho, wo), forward_s, backward_s)] per op"},
    {"min_side", (PyCFunction)Network_min_side, METH_VARARGS,
     "min_side(block) -> smallest input side that reaches mixed{block}"},
    {"macs", (PyCFunction)Network_macs, METH_VARARGS,
     "macs(h, w, block) -> multiply-adds of the convolutions of a forward pass to mixed{block}"},
    {"can_compute", (PyCFunction)Network_can_compute, METH_VARARGS,
     "can_compute(block) -> whether the loaded weights reach mixed{block}"},
    {"missing", (PyCFunction)Network_missing, METH_NOARGS,
     "missing() -> numbers N of the conv2d_N kernels not loaded"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject NetworkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "deepdream._deepdream.Network",
    .tp_doc = "InceptionV3 graph with its weights (internal; use deepdream.InceptionV3).",
    .tp_basicsize = sizeof(NetworkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Network_init,
    .tp_dealloc = (destructor)Network_dealloc,
    .tp_methods = Network_methods,
};

/* ---- single ops, for the tests (each against NumPy and finite differences) ---- */

static int parse_window(PyArrayObject *x, int kh, int kw, int stride, int same, window *g) {
    if (kh < 1 || kw < 1 || stride < 1 || kh > 64 || kw > 64 || stride > 64) {
        PyErr_SetString(PyExc_ValueError, "kernel sides and stride must be 1..64");
        return 0;
    }
    if ((size_t)PyArray_SIZE(x) >= (size_t)INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "input too large for a single op");
        return 0;
    }
    *g = window_make((int)PyArray_DIM(x, 0), (int)PyArray_DIM(x, 1), kh, kw, stride, same);
    if (g->ho < 1 || g->wo < 1) {
        PyErr_SetString(PyExc_ValueError, "input is smaller than the window");
        return 0;
    }
    return 1;
}

/* Scratch for one conv op call, plus its transformed kernel (2-D, 1-D or polyphase Winograd) when
 * the geometry uses one. */
static float *op_scratch(const window *g, const float *kernel, int cin, int cout, int backward,
                         float **wino) {
    *wino = NULL;
    float *col = PyMem_Malloc((conv2d_scratch_size(g, cin, cout, 2) + 1) * sizeof(float));
    const int r = conv2d_uses_winograd1d(g) ? conv2d_winograd1d_length(g->kh, g->kw, g->sh) : 0;
    const int poly = conv2d_uses_polyphase(g, cin);
    const size_t n = conv2d_uses_winograd(g) ? winograd_kernel_size(g->kh, cin, cout)
                     : poly ? polyphase_kernel_size(cin, cout)
                     : r ? winograd1d_kernel_size(r, cin, cout) : 0;
    if (col && n && !(*wino = PyMem_Malloc(n * sizeof(float)))) {
        PyMem_Free(col);
        col = NULL;
    }
    if (!col) {
        PyErr_NoMemory();
        return NULL;
    }
    if (r) winograd1d_kernel_transform(*wino, kernel, r, cin, cout, backward);
    else if (poly) polyphase_kernel_transform(*wino, kernel, cin, cout, backward);
    else if (n) winograd_kernel_transform(*wino, kernel, g->kh, cin, cout, backward);
    return col;
}

/* conv2d(x (h,w,cin), kernel (kh,kw,cin,cout), bias (cout), stride, same) -> relu(conv + bias) */
static PyObject *op_conv2d(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *xo, *ko, *bo, *result = NULL;
    int stride, same;
    if (!PyArg_ParseTuple(args, "OOOip", &xo, &ko, &bo, &stride, &same)) return NULL;
    /* one conversion at a time: NumPy may clear a pending exception, and NULL would come back
     * with none set (a SystemError, found by fuzzing) */
    PyArrayObject *x = NULL, *k = NULL, *b = NULL;
    window g;
    if (!(x = as_float32(xo, 3, "x")) || !(k = as_float32(ko, 4, "kernel")) ||
        !(b = as_float32(bo, 1, "bias")))
        goto done;
    int cin = (int)PyArray_DIM(x, 2), cout = (int)PyArray_DIM(k, 3);
    if (PyArray_DIM(k, 2) != cin || PyArray_DIM(b, 0) != cout) {
        PyErr_SetString(PyExc_ValueError, "kernel must be (kh, kw, cin, cout) and bias (cout,)");
        goto done;
    }
    if (!parse_window(x, (int)PyArray_DIM(k, 0), (int)PyArray_DIM(k, 1), stride, same, &g) ||
        !check_op_size(g.ho, g.wo, cout, "the output") ||
        !check_op_size(g.ho, g.wo, (long long)g.kh * g.kw * cin, "the im2col matrix"))
        goto done;
    npy_intp dims[3] = {g.ho, g.wo, cout};
    PyArrayObject *out = new_float32(3, dims);
    if (!out) goto done;
    float *wino, *col = op_scratch(&g, PyArray_DATA(k), cin, cout, 0, &wino);
    if (!col) {
        Py_DECREF(out);
        goto done;
    }
    conv2d_forward(PyArray_DATA(out), cout, col, PyArray_DATA(x), PyArray_DATA(k), wino,
                   PyArray_DATA(b), &g, cin, cout, 2);
    PyMem_Free(col);
    PyMem_Free(wino);
    result = (PyObject *)out;
done:
    Py_XDECREF(x);
    Py_XDECREF(k);
    Py_XDECREF(b);
    return result;
}

/* conv2d_backward(dout, out, kernel, (h, w), stride, same) -> din (h, w, cin) */
static PyObject *op_conv2d_backward(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *doo, *oo, *ko, *result = NULL;
    int h, w, stride, same;
    if (!PyArg_ParseTuple(args, "OOO(ii)ip", &doo, &oo, &ko, &h, &w, &stride, &same)) return NULL;
    /* a copy of dout: the ReLU mask is applied to it in place */
    PyArrayObject *dout = NULL, *out = NULL, *k = NULL;
    if (!(dout = as_float32_flags(doo, 3, "dout", NPY_ARRAY_ENSURECOPY)) ||
        !(out = as_float32(oo, 3, "out")) || !(k = as_float32(ko, 4, "kernel")))
        goto done;
    int cin = (int)PyArray_DIM(k, 2), cout = (int)PyArray_DIM(k, 3);
    if (!check_op_size(h, w, cin, "din")) goto done;
    npy_intp dims[3] = {h, w, cin};
    PyArrayObject *x = new_float32(3, dims);
    if (!x) goto done;
    window g;
    if (!parse_window(x, (int)PyArray_DIM(k, 0), (int)PyArray_DIM(k, 1), stride, same, &g)) {
        Py_DECREF(x);
        goto done;
    }
    if (PyArray_DIM(dout, 0) != g.ho || PyArray_DIM(dout, 1) != g.wo || PyArray_DIM(dout, 2) != cout ||
        !PyArray_SAMESHAPE(dout, out)) {
        PyErr_SetString(PyExc_ValueError, "dout and out must be (ho, wo, cout) of this convolution");
        Py_DECREF(x);
        goto done;
    }
    float *wino, *col = op_scratch(&g, PyArray_DATA(k), cin, cout, 1, &wino);
    if (!col) {
        Py_DECREF(x);
        goto done;
    }
    memset(PyArray_DATA(x), 0, (size_t)h * w * cin * sizeof(float));
    conv2d_backward(PyArray_DATA(x), PyArray_DATA(dout), cout, col, PyArray_DATA(out),
                    PyArray_DATA(k), wino, &g, cin, cout, 1, 0, NULL, 2);
    PyMem_Free(col);
    PyMem_Free(wino);
    result = (PyObject *)x;
done:
    Py_XDECREF(dout);
    Py_XDECREF(out);
    Py_XDECREF(k);
    return result;
}

/* maxpool(x (h,w,c), k, stride, same) -> (out, argmax: the window position of each maximum) */
static PyObject *op_maxpool(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *xo;
    int k, stride, same;
    if (!PyArg_ParseTuple(args, "Oiip", &xo, &k, &stride, &same)) return NULL;
    PyArrayObject *x = as_float32(xo, 3, "x");
    window g;
    if (!x || !parse_window(x, k, k, stride, same, &g)) {
        Py_XDECREF(x);
        return NULL;
    }
    int c = (int)PyArray_DIM(x, 2);
    npy_intp dims[3] = {g.ho, g.wo, c};
    PyArrayObject *out = new_float32(3, dims);
    PyArrayObject *am = (PyArrayObject *)PyArray_SimpleNew(3, dims, NPY_INT32);
    if (out && am)
        maxpool_forward(PyArray_DATA(out), c, PyArray_DATA(am), PyArray_DATA(x), &g, c, 0, 2);
    Py_DECREF(x);
    if (!out || !am) {
        Py_XDECREF(out);
        Py_XDECREF(am);
        return NULL;
    }
    return Py_BuildValue("(NN)", out, am);
}

/* maxpool_backward(dout, argmax, (h, w), k, stride, same) -> din (h, w, c) */
static PyObject *op_maxpool_backward(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *doo, *amo;
    int h, w, k, stride, same;
    if (!PyArg_ParseTuple(args, "OO(ii)iip", &doo, &amo, &h, &w, &k, &stride, &same)) return NULL;
    PyArrayObject *dout = as_float32(doo, 3, "dout"), *din = NULL, *am = NULL;
    if (!dout || !(am = (PyArrayObject *)PyArray_FROMANY(amo, NPY_INT32, 3, 3, NPY_ARRAY_IN_ARRAY)))
        goto done;
    int c = (int)PyArray_DIM(dout, 2);
    if (!check_op_size(h, w, c, "din")) goto done;
    npy_intp dims[3] = {h, w, c};
    din = (PyArrayObject *)PyArray_ZEROS(3, dims, NPY_FLOAT32, 0);
    window g;
    if (!din || !parse_window(din, k, k, stride, same, &g)) goto fail;
    if (!PyArray_SAMESHAPE(dout, am) || PyArray_DIM(dout, 0) != g.ho || PyArray_DIM(dout, 1) != g.wo) {
        PyErr_SetString(PyExc_ValueError, "dout and argmax must be (ho, wo, c) of this pool");
        goto fail;
    }
    const int *idx = PyArray_DATA(am);
    for (npy_intp i = 0; i < PyArray_SIZE(am); i++) {
        if (idx[i] < 0 || idx[i] >= k * k) {
            PyErr_SetString(PyExc_ValueError, "argmax holds a window position outside 0..k*k-1");
            goto fail;
        }
    }
    maxpool_backward(PyArray_DATA(din), PyArray_DATA(dout), c, idx, &g, c, 0, 2);
    goto done;
fail:
    Py_CLEAR(din);
done:
    Py_XDECREF(dout);
    Py_XDECREF(am);
    return (PyObject *)din;
}

/* avgpool(x (h,w,c), k, stride, same) -> out */
static PyObject *op_avgpool(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *xo;
    int k, stride, same;
    if (!PyArg_ParseTuple(args, "Oiip", &xo, &k, &stride, &same)) return NULL;
    PyArrayObject *x = as_float32(xo, 3, "x"), *out = NULL;
    window g;
    if (x && parse_window(x, k, k, stride, same, &g)) {
        int c = (int)PyArray_DIM(x, 2);
        npy_intp dims[3] = {g.ho, g.wo, c};
        out = new_float32(3, dims);
        if (out) avgpool_forward(PyArray_DATA(out), c, PyArray_DATA(x), &g, c, NULL, 2);
    }
    Py_XDECREF(x);
    return (PyObject *)out;
}

/* avgpool_backward(dout, (h, w), k, stride, same) -> din (h, w, c) */
static PyObject *op_avgpool_backward(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *doo;
    int h, w, k, stride, same;
    if (!PyArg_ParseTuple(args, "O(ii)iip", &doo, &h, &w, &k, &stride, &same)) return NULL;
    PyArrayObject *dout = as_float32(doo, 3, "dout"), *din = NULL;
    if (!dout) return NULL;
    int c = (int)PyArray_DIM(dout, 2);
    if (!check_op_size(h, w, c, "din")) {
        Py_DECREF(dout);
        return NULL;
    }
    npy_intp dims[3] = {h, w, c};
    din = (PyArrayObject *)PyArray_ZEROS(3, dims, NPY_FLOAT32, 0);
    window g;
    if (din && parse_window(din, k, k, stride, same, &g)) {
        if (PyArray_DIM(dout, 0) == g.ho && PyArray_DIM(dout, 1) == g.wo) {
            avgpool_backward(PyArray_DATA(din), PyArray_DATA(dout), c, NULL, &g, c, 0, 2);
        } else {
            PyErr_SetString(PyExc_ValueError, "dout must be (ho, wo, c) of this pool");
            Py_CLEAR(din);
        }
    } else {
        Py_CLEAR(din);
    }
    Py_DECREF(dout);
    return (PyObject *)din;
}

/* resize_bilinear(img (h, w, c), (oh, ow)) -> (oh, ow, c), tf.image.resize's bilinear */
static PyObject *op_resize_bilinear(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *xo;
    int oh, ow;
    if (!PyArg_ParseTuple(args, "O(ii)", &xo, &oh, &ow)) return NULL;
    PyArrayObject *x = as_float32(xo, 3, "img"), *out = NULL;
    if (!x) return NULL;
    if (oh < 1 || ow < 1 || oh > INCEPTION_MAX_SIDE || ow > INCEPTION_MAX_SIDE ||
        PyArray_DIM(x, 0) < 1 || PyArray_DIM(x, 1) < 1 || PyArray_DIM(x, 2) < 1 ||
        PyArray_DIM(x, 2) > 1024 || PyArray_DIM(x, 0) > INCEPTION_MAX_SIDE ||
        PyArray_DIM(x, 1) > INCEPTION_MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "resize needs a non-empty (h, w, c) image and a size of "
                     "1..%d pixels a side", INCEPTION_MAX_SIDE);
        Py_DECREF(x);
        return NULL;
    }
    int c = (int)PyArray_DIM(x, 2);
    npy_intp dims[3] = {oh, ow, c};
    out = new_float32(3, dims);
    if (out) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = resize_bilinear(PyArray_DATA(out), oh, ow, PyArray_DATA(x), (int)PyArray_DIM(x, 0),
                             (int)PyArray_DIM(x, 1), c);
        Py_END_ALLOW_THREADS
        if (rc != 0) {
            Py_CLEAR(out);
            PyErr_NoMemory();
        }
    }
    Py_DECREF(x);
    return (PyObject *)out;
}

/* shifts_from_seed(n_steps, tile_size, seed) -> int32 (n_steps, 2): the dream's own generator */
static PyObject *op_shifts_from_seed(PyObject *Py_UNUSED(m), PyObject *args) {
    int n, tile;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "iiK", &n, &tile, &seed)) return NULL;
    if (n < 0 || tile < 1 || n > 100000000) {
        PyErr_SetString(PyExc_ValueError, "n_steps must be >= 0 and tile_size >= 1");
        return NULL;
    }
    npy_intp dims[2] = {n, 2};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_INT32);
    if (out) dream_shifts_from_seed(PyArray_DATA(out), n, tile, seed);
    return (PyObject *)out;
}

/* tile_bounds(n, tile_size, cover) -> [(start, end)]: the tiles a dream step uses on one axis */
static PyObject *op_tile_bounds(PyObject *Py_UNUSED(m), PyObject *args) {
    int n, tile, cover;
    if (!PyArg_ParseTuple(args, "iip", &n, &tile, &cover)) return NULL;
    if (n < 1 || tile < 1 || n > INCEPTION_MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "need 1 <= n <= %d and tile_size >= 1", INCEPTION_MAX_SIDE);
        return NULL;
    }
    int count = dream_max_tiles(n, tile);
    int *b = PyMem_Malloc(2 * (size_t)count * sizeof(int));
    if (!b) return PyErr_NoMemory();
    count = dream_tile_bounds(b, b + count, n, tile, cover ? TILES_COVER : TILES_TUTORIAL);
    int max = dream_max_tiles(n, tile);
    PyObject *list = PyList_New(count);
    for (int i = 0; list && i < count; i++) {
        PyObject *pair = Py_BuildValue("(ii)", b[i], b[max + i]);
        if (!pair) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, pair);
    }
    PyMem_Free(b);
    return list;
}

/* ---- module ---- */

static PyObject *conv_table(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored)) {
    PyObject *list = PyList_New(INCEPTION_N_CONVS);
    for (int i = 0; list && i < INCEPTION_N_CONVS; i++) {
        const conv_spec *s = &INCEPTION_CONVS[i];
        PyObject *row = Py_BuildValue("(iiiiis)", s->kh, s->kw, s->cin, s->cout, s->stride,
                                      s->same ? "same" : "valid");
        if (!row) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, row);
    }
    return list;
}

/* sgemm_seconds(n, repeats) -> best time of one n x n x n sgemm through the core's OpenBLAS */
static PyObject *sgemm_seconds(PyObject *Py_UNUSED(m), PyObject *args) {
    int n, repeats, threads = 1;
    if (!PyArg_ParseTuple(args, "ii|i", &n, &repeats, &threads) || !check_threads(threads)) return NULL;
    if (n < 1 || n > 16384 || repeats < 1) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= n <= 16384 and repeats >= 1");
        return NULL;
    }
    size_t nn = (size_t)n * n;
    float *a = PyMem_Calloc(3 * nn, sizeof(float));
    if (!a) return PyErr_NoMemory();
    for (size_t i = 0; i < 2 * nn; i++) a[i] = (float)(i % 7) * 0.25f - 0.75f;
    double best = 1e300;
    Py_BEGIN_ALLOW_THREADS
    blas_set_threads(threads); /* OpenBLAS's own threads, for this measurement only */
    for (int r = 0; r < repeats; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, a + nn, n, 0.0f,
                   a + 2 * nn, n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (s < best) best = s;
    }
    blas_set_threads(1);
    Py_END_ALLOW_THREADS
    PyMem_Free(a);
    return PyFloat_FromDouble(best);
}

/* gemm_kernel() -> "avx512" or "openblas": what the forward GEMM of the 1x1 and im2col convs
 * may run on; gemm_kernel(name) switches it (tests and benchmarks; not while a computation runs:
 * results would mix the two). */
static PyObject *gemm_kernel(PyObject *Py_UNUSED(m), PyObject *args) {
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|s", &name)) return NULL;
    if (name) {
        int own = strcmp(name, "avx512") == 0;
        if (!own && strcmp(name, "openblas") != 0) {
            PyErr_Format(PyExc_ValueError, "gemm kernel must be 'avx512' or 'openblas', not '%s'", name);
            return NULL;
        }
        gemm_init(!own);
        if (own && !gemm_uses_own_kernel()) {
            PyErr_SetString(PyExc_ValueError, "this CPU has no AVX-512F: only 'openblas' is available");
            return NULL;
        }
    }
    return PyUnicode_FromString(gemm_uses_own_kernel() ? "avx512" : "openblas");
}

static PyObject *blas_config(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored)) {
    return PyUnicode_FromString(blas_get_config());
}

static PyMethodDef module_methods[] = {
    {"conv2d", op_conv2d, METH_VARARGS, "conv2d(x, kernel, bias, stride, same) -> relu(conv + bias)"},
    {"conv2d_backward", op_conv2d_backward, METH_VARARGS,
     "conv2d_backward(dout, out, kernel, (h, w), stride, same) -> din"},
    {"maxpool", op_maxpool, METH_VARARGS, "maxpool(x, k, stride, same) -> (out, argmax)"},
    {"maxpool_backward", op_maxpool_backward, METH_VARARGS,
     "maxpool_backward(dout, argmax, (h, w), k, stride, same) -> din"},
    {"avgpool", op_avgpool, METH_VARARGS, "avgpool(x, k, stride, same) -> out"},
    {"avgpool_backward", op_avgpool_backward, METH_VARARGS,
     "avgpool_backward(dout, (h, w), k, stride, same) -> din"},
    {"resize_bilinear", op_resize_bilinear, METH_VARARGS,
     "resize_bilinear(img, (h, w)) -> tf.image.resize(img, (h, w)) (bilinear, half-pixel centres)"},
    {"shifts_from_seed", op_shifts_from_seed, METH_VARARGS,
     "shifts_from_seed(n_steps, tile_size, seed) -> (n_steps, 2) int32 rolls"},
    {"tile_bounds", op_tile_bounds, METH_VARARGS,
     "tile_bounds(n, tile_size, cover) -> [(start, end)] of the tiles on an axis of length n"},
    {"conv_table", conv_table, METH_NOARGS, "conv_table() -> [(kh, kw, cin, cout, stride, padding)]"},
    {"sgemm_seconds", sgemm_seconds, METH_VARARGS,
     "sgemm_seconds(n, repeats, threads=1) -> best seconds of an n^3 sgemm on OpenBLAS threads"},
    {"blas_config", blas_config, METH_NOARGS, "blas_config() -> OpenBLAS build string"},
    {"gemm_kernel", gemm_kernel, METH_VARARGS,
     "gemm_kernel(name=None) -> 'avx512' or 'openblas': the convs' forward GEMM (name switches it)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_deepdream", "The C core of deepdream (internal).", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__deepdream(void) {
    import_array();
    /* One threading model: our OpenMP threads each call a single-threaded sgemm. */
    blas_set_threads(1);
    const char *gemm_choice = getenv("DEEPDREAM_GEMM"); /* "openblas": no own GEMM kernel */
    gemm_init(gemm_choice && strcmp(gemm_choice, "openblas") == 0);
    if (PyType_Ready(&NetworkType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    Py_INCREF(&NetworkType);
    if (PyModule_AddObject(m, "Network", (PyObject *)&NetworkType) < 0) {
        Py_DECREF(&NetworkType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
