/* sutra_cache._fastcall: `Cache.get` and `Cache.search`'s common calls as one CPython call
 * each (#20 points 2 and 7).
 *
 * Through cffi a call converts every argument of the C function (13 for a search), releases
 * and retakes the GIL, and the result is then assembled by Python code: ~18,000 instructions
 * of a k = 1 search were CPython's, ~6x the C call. Here the arguments are read directly
 * from the Python objects, the out-parameters are the calling thread's buffers (C
 * thread-locals), and the result is built in C. The C ABI itself is unchanged: this module
 * does not link the library; it calls the functions of the cffi module `_sutra_cffi` (which
 * does) through their addresses, handed over once by `bind` — one copy of the engine per
 * process.
 *
 * Anything uncommon (a key of another type, a query that is not a contiguous float32
 * vector, an error status, a closed handle) returns the `slow` sentinel, and the caller takes
 * the general Python path, which raises the error the documentation names. The GIL is kept
 * for a blob get of at most SMALL_VALUE bytes (a hash lookup and a copy: less than taking
 * it back would cost) and for a search whose candidate list is small (max(k, ef) <=
 * SMALL_EF, ef given): a greedy descent and a few distances. Everything else releases it, as
 * cffi does, so threads search in parallel.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sutra_cache.h"

/* Values up to this many bytes are copied with the GIL held (a larger one is read again
 * with it released). */
#define SMALL_VALUE (64 * 1024)
/* Searches with max(k, ef) up to this (ef given, not exhaustive) run with the GIL held. */
#define SMALL_EF 16
/* A k above this takes the Python path (which allocates the hits as numpy arrays). */
#define MAX_FAST_K (1 << 16)

typedef int32_t (*get_fn)(const sutra_cache *, const uint8_t *, size_t, uint8_t *, size_t,
                          size_t *, bool *, sutra_error *);
typedef int32_t (*search_fn)(const sutra_cache *, const uint8_t *, size_t, const float *, size_t,
                             const sutra_search_params *, sutra_search_hit *, size_t, uint8_t *,
                             size_t, size_t *, size_t *, sutra_error *);
typedef void (*params_init_fn)(sutra_search_params *);

/* Set once by `bind` (under the GIL, before any Handle is made). */
static get_fn c_get;
static search_fn c_search;
static sutra_search_params default_params;
static PyObject *slow;     /* the sentinel: "take the Python path" */
static PyObject *np_empty; /* numpy.empty */
static PyObject *f32;      /* numpy.dtype(numpy.float32) */

/* The calling thread's out-buffers, grown on demand, never shared: a call with the GIL
 * released still owns them. Kept as one heap block per thread that called, found through a
 * thread-local pointer and freed when the thread exits (the pthread key's destructor), as
 * the threading.local buffers of the Python path are. */
typedef struct {
  uint8_t *buf; /* values (get) and packed names (search) */
  size_t cap;
  sutra_search_hit *hits;
  size_t hits_cap;
} Scratch;

static pthread_key_t scratch_key;
static _Thread_local Scratch *t_scratch;

static void scratch_free(void *p) {
  Scratch *s = p;
  free(s->buf);
  free(s->hits);
  free(s);
}

/* The thread's scratch with a buffer of at least 4 KiB, or NULL (out of memory). */
static Scratch *scratch(void) {
  Scratch *s = t_scratch;
  if (s) return s;
  s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->buf = malloc(4096);
  if (!s->buf || pthread_setspecific(scratch_key, s) != 0) {
    free(s->buf);
    free(s);
    return NULL;
  }
  s->cap = 4096;
  t_scratch = s;
  return s;
}

static bool grow_buf(Scratch *s, size_t need) {
  size_t cap = s->cap ? s->cap : 4096;
  while (cap < need) cap *= 2;
  uint8_t *b = realloc(s->buf, cap);
  if (!b) return false;
  s->buf = b;
  s->cap = cap;
  return true;
}

static bool grow_hits(Scratch *s, size_t need) {
  size_t cap = s->hits_cap ? s->hits_cap : 16;
  while (cap < need) cap *= 2;
  sutra_search_hit *h = realloc(s->hits, cap * sizeof *h);
  if (!h) return false;
  s->hits = h;
  s->hits_cap = cap;
  return true;
}

static PyObject *take_slow(void) {
  Py_INCREF(slow);
  return slow;
}

/* A key's bytes: bytes as they are, str as UTF-8 (the cached form CPython keeps; ASCII
 * strings are their own UTF-8). Anything else, or a str that does not encode, is false with
 * no exception set: the Python path handles (and raises for) it. */
static bool key_bytes(PyObject *key, const char **p, Py_ssize_t *n) {
  if (PyBytes_CheckExact(key)) {
    *p = PyBytes_AS_STRING(key);
    *n = PyBytes_GET_SIZE(key);
    return true;
  }
  if (PyUnicode_CheckExact(key)) {
    *p = PyUnicode_AsUTF8AndSize(key, n);
    if (*p) return true;
    PyErr_Clear();
  }
  return false;
}

typedef struct {
  PyObject_HEAD
  const sutra_cache *h; /* NULL once closed */
} Handle;

static int Handle_init(Handle *self, PyObject *args, PyObject *kw) {
  PyObject *addr;
  if (!PyArg_ParseTuple(args, "O", &addr)) return -1;
  if (!c_get) {
    PyErr_SetString(PyExc_RuntimeError, "sutra_cache._fastcall: bind() was not called");
    return -1;
  }
  void *p = PyLong_AsVoidPtr(addr);
  if (!p && PyErr_Occurred()) return -1;
  self->h = p;
  return 0;
}

static PyObject *Handle_close(Handle *self, PyObject *unused) {
  self->h = NULL;
  Py_RETURN_NONE;
}

/* get(key) -> bytes | None | slow */
static PyObject *Handle_get(Handle *self, PyObject *key) {
  const char *k;
  Py_ssize_t kn;
  if (!self->h || !key_bytes(key, &k, &kn)) return take_slow();
  Scratch *s = scratch();
  if (!s) return PyErr_NoMemory();
  sutra_error err;
  size_t len = 0;
  bool found = false;
  int32_t st;
  /* First with the GIL held, offering at most SMALL_VALUE bytes: a value that fits is copied
   * at once. A larger one (the call says how large, having copied nothing) is read again
   * into a buffer grown to fit, the GIL released. A value that grew in between is asked for
   * again; one that says it did not fit what it fits is left to the Python path. */
  size_t offered = s->cap < SMALL_VALUE ? s->cap : SMALL_VALUE;
  st = c_get(self->h, (const uint8_t *)k, (size_t)kn, s->buf, offered, &len, &found, &err);
  while (st == SUTRA_BUFFER_TOO_SMALL) {
    if (len <= offered) return take_slow();
    if (len > s->cap && !grow_buf(s, len)) return PyErr_NoMemory();
    offered = s->cap;
    Py_BEGIN_ALLOW_THREADS
    st = c_get(self->h, (const uint8_t *)k, (size_t)kn, s->buf, offered, &len, &found, &err);
    Py_END_ALLOW_THREADS
  }
  if (st != 0) return take_slow();
  if (!found) Py_RETURN_NONE;
  return PyBytes_FromStringAndSize((const char *)s->buf, (Py_ssize_t)len);
}

/* The scores of the thread's first `n` hits as a new float32 ndarray. */
static PyObject *scores_array(const sutra_search_hit *hits, size_t n) {
  PyObject *len = PyLong_FromSize_t(n);
  if (!len) return NULL;
  PyObject *args[2] = {len, f32};
  PyObject *arr = PyObject_Vectorcall(np_empty, args, 2, NULL);
  Py_DECREF(len);
  if (!arr || n == 0) return arr;
  Py_buffer v;
  if (PyObject_GetBuffer(arr, &v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
    Py_DECREF(arr);
    return NULL;
  }
  float *out = v.buf;
  for (size_t i = 0; i < n; i++) out[i] = hits[i].score;
  PyBuffer_Release(&v);
  return arr;
}

/* search(key, query, k, ef, min_score, exhaustive) -> (names, scores) | slow */
static PyObject *Handle_search(Handle *self, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 6) {
    PyErr_SetString(PyExc_TypeError, "search: 6 arguments");
    return NULL;
  }
  const char *k;
  Py_ssize_t kn;
  if (!self->h || !key_bytes(args[0], &k, &kn)) return take_slow();
  Py_ssize_t count = PyLong_AsSsize_t(args[2]);
  Py_ssize_t ef = count < 0 ? -1 : PyLong_AsSsize_t(args[3]);
  if (count < 0 || ef < 0 || count > MAX_FAST_K) {
    PyErr_Clear();
    return take_slow();
  }
  sutra_search_params sp = default_params;
  sp.count = (size_t)count;
  sp.ef = (size_t)ef;
  if (args[4] != Py_None) {
    double m = PyFloat_AsDouble(args[4]);
    if (m == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return take_slow();
    }
    sp.use_min_score = true;
    sp.min_score = (float)m;
  }
  int ex = PyObject_IsTrue(args[5]);
  if (ex < 0) {
    PyErr_Clear();
    return take_slow();
  }
  sp.exhaustive = ex;
  Py_buffer q;
  if (PyObject_GetBuffer(args[1], &q, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
    PyErr_Clear();
    return take_slow();
  }
  const char *fmt = q.format ? q.format : "B";
  if (q.ndim != 1 || q.itemsize != 4 ||
      !(strcmp(fmt, "f") == 0 || strcmp(fmt, "=f") == 0
#if PY_LITTLE_ENDIAN
        || strcmp(fmt, "<f") == 0
#endif
        )) {
    PyBuffer_Release(&q);
    return take_slow();
  }
  Scratch *s = scratch();
  if (!s || ((s->hits_cap < (size_t)count || !s->hits) && !grow_hits(s, (size_t)count))) {
    PyBuffer_Release(&q);
    return PyErr_NoMemory();
  }
  bool hold = !sp.exhaustive && ef > 0 && (count > ef ? count : ef) <= SMALL_EF;
  const float *qp = q.buf;
  size_t dim = (size_t)(q.len / 4);
  size_t n = 0, names_len = 0;
  sutra_error err;
  int32_t st;
  for (;;) {
    if (hold) {
      st = c_search(self->h, (const uint8_t *)k, (size_t)kn, qp, dim, &sp, s->hits, s->hits_cap,
                    s->buf, s->cap, &n, &names_len, &err);
    } else {
      Py_BEGIN_ALLOW_THREADS
      st = c_search(self->h, (const uint8_t *)k, (size_t)kn, qp, dim, &sp, s->hits, s->hits_cap,
                    s->buf, s->cap, &n, &names_len, &err);
      Py_END_ALLOW_THREADS
    }
    if (st != SUTRA_BUFFER_TOO_SMALL) break;
    /* n: the hits needed, names_len: the names' bytes needed; neither larger than what was
     * passed would loop: the Python path then reports it. */
    if (n <= s->hits_cap && names_len <= s->cap) break;
    if ((n > s->hits_cap && !grow_hits(s, n)) || (names_len > s->cap && !grow_buf(s, names_len))) {
      PyBuffer_Release(&q);
      return PyErr_NoMemory();
    }
  }
  PyBuffer_Release(&q);
  if (st != 0) return take_slow();
  PyObject *names = PyList_New((Py_ssize_t)n);
  if (!names) return NULL;
  for (size_t i = 0; i < n; i++) {
    const sutra_search_hit *hit = &s->hits[i];
    if (hit->name_offset > names_len || hit->name_len > names_len - hit->name_offset) {
      Py_DECREF(names);
      PyErr_SetString(PyExc_RuntimeError, "sutra_cache: a search hit's name is out of range");
      return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize((const char *)s->buf + hit->name_offset,
                                            (Py_ssize_t)hit->name_len);
    if (!b) {
      Py_DECREF(names);
      return NULL;
    }
    PyList_SET_ITEM(names, (Py_ssize_t)i, b);
  }
  PyObject *scores = scores_array(s->hits, n);
  if (!scores) {
    Py_DECREF(names);
    return NULL;
  }
  PyObject *r = PyTuple_New(2);
  if (!r) {
    Py_DECREF(names);
    Py_DECREF(scores);
    return NULL;
  }
  PyTuple_SET_ITEM(r, 0, names);
  PyTuple_SET_ITEM(r, 1, scores);
  return r;
}

static PyMethodDef Handle_methods[] = {
    {"get", (PyCFunction)Handle_get, METH_O, "get(key) -> bytes | None | the slow sentinel"},
    {"search", (PyCFunction)(void (*)(void))Handle_search, METH_FASTCALL,
     "search(key, query, k, ef, min_score, exhaustive) -> (names, scores) | the slow sentinel"},
    {"close", (PyCFunction)Handle_close, METH_NOARGS, "forget the handle (calls go slow)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sutra_cache._fastcall.Handle",
    .tp_basicsize = sizeof(Handle),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A sutra_cache handle's fast calls (the handle's address; close() forgets it).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Handle_init,
    .tp_methods = Handle_methods,
};

/* bind(get_addr, search_addr, params_init_addr, slow, numpy_empty, float32_dtype) */
static PyObject *bind(PyObject *mod, PyObject *args) {
  PyObject *ga, *sa, *pa, *s, *e, *d;
  if (!PyArg_ParseTuple(args, "OOOOOO", &ga, &sa, &pa, &s, &e, &d)) return NULL;
  void *g = PyLong_AsVoidPtr(ga), *se = PyLong_AsVoidPtr(sa), *pi = PyLong_AsVoidPtr(pa);
  if (PyErr_Occurred()) return NULL;
  if (!g || !se || !pi) {
    PyErr_SetString(PyExc_ValueError, "bind: a NULL function address");
    return NULL;
  }
  ((params_init_fn)pi)(&default_params);
  /* Bound once per process (the module's import); a second bind replaces the first. */
  PyObject *old[3] = {slow, np_empty, f32};
  Py_INCREF(s);
  Py_INCREF(e);
  Py_INCREF(d);
  slow = s;
  np_empty = e;
  f32 = d;
  for (int i = 0; i < 3; i++) Py_XDECREF(old[i]);
  c_search = (search_fn)se;
  c_get = (get_fn)g;
  Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"bind", bind, METH_VARARGS,
     "bind(get_addr, search_addr, params_init_addr, slow, numpy_empty, float32_dtype)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sutra_cache._fastcall",
    "Cache.get and Cache.search's common calls in C (see _fastcall.c).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fastcall(void) {
  if (pthread_key_create(&scratch_key, scratch_free) != 0) {
    PyErr_SetString(PyExc_OSError, "sutra_cache._fastcall: pthread_key_create failed");
    return NULL;
  }
  if (PyType_Ready(&HandleType) < 0) return NULL;
  PyObject *m = PyModule_Create(&module);
  if (!m) return NULL;
  Py_INCREF(&HandleType);
  if (PyModule_AddObject(m, "Handle", (PyObject *)&HandleType) < 0) {
    Py_DECREF(&HandleType);
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
