/* The kv-native kernel: runs a TableKVEncoder's prepared plan (see plan.py in lightning_core.kv)
 * over a batch of source rows, byte for byte as the Python encoder does.
 *
 * Each step has a kind code; kinds this file knows are done here, and OTHER (or any value of an
 * unexpected shape) goes to the step's Python callable, so the bytes never depend on which side
 * did the work. Layouts: lightning_core/kv/{memcomparable,rowcodec,keys}.py.
 */
#include "codec.h"

/* kind codes: lightning_core.kv.plan.KeyKind / ValueKind / CollationKind */
enum { K_OTHER = 0, K_INT = 1, K_UINT = 2, K_FLOAT = 3, K_BYTES = 4, K_TIME = 5, K_DECIMAL = 6 };
enum { C_BINARY = 0, C_PAD_BIN = 1, C_GENERAL_CI = 2 };
/* pass-through rule codes (_TEXT_RULES and friends in encoder.py) */
enum { P_NONE = 0, P_INT = 1, P_BINARY = 2, P_UTF8 = 3, P_UTF8MB3 = 4, P_ASCII = 5, P_DECIMAL = 6 };
/* DatetimeText shortcut codes */
enum { DT_NONE = 0, DT_DATETIME = 1, DT_DATE = 2 };

/* classes and tables the plan hands over (set by Kernel.__init__; one per process is enough,
 * they are the same objects for every table) */
static PyObject *MysqlTimeType;
static const unsigned char *general_ci_weights; /* 2 bytes big-endian per BMP code point */
static PyObject *general_ci_table;

/* --- plan structures --------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t offset;
    int kind, collation;
    PyObject *encode, *collate, *truncate; /* borrowed from the plan tuple */
    Py_ssize_t prefix_len;                 /* -1: none */
    int prefix_bytes;
    int precision, scale; /* K_DECIMAL */
} KeyCol;

typedef struct {
    long col_id;
    Py_ssize_t offset;
    int kind, null_default;
    PyObject *encode;
    int precision, scale;
} ValCol;

typedef struct {
    long col_id;
    int from_row, as_count, kind;
    Py_ssize_t position;
    PyObject *encode, *truncate;
    Py_ssize_t prefix_len;
    int prefix_bytes;
    int precision, scale;
} RestCol;

typedef struct {
    PyObject *prefix;
    int unique;
    Py_ssize_t ncols, nrestore; /* nrestore -1: no restored data */
    KeyCol *cols;
    RestCol *restore;
} Index;

typedef struct {
    PyObject_HEAD PyObject *plan; /* keeps every borrowed reference alive */
    PyObject *record_prefix, *row_failure, *encode_error;
    int common, handle_unsigned;
    Py_ssize_t handle_offset, auto_inc, auto_random;
    int shard_bits;
    uint64_t shard_seed;
    Py_ssize_t npk, nrow, nindex;
    KeyCol *pk;
    ValCol *row;
    Index *indexes;
} Kernel;

static int as_ssize(PyObject *t, Py_ssize_t i, Py_ssize_t *out) {
    *out = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, i));
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int as_int(PyObject *t, Py_ssize_t i, int *out) {
    long v = PyLong_AsLong(PyTuple_GET_ITEM(t, i));
    *out = (int)v;
    return (v == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int check_tuple(PyObject *t, Py_ssize_t n, const char *what) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != n) {
        PyErr_Format(PyExc_TypeError, "kernel plan: %s must be a %zd-tuple", what, n);
        return -1;
    }
    return 0;
}

/* (offset, kind, encode, collation, collate, prefix_len, prefix_bytes, truncate, precision,
 *  scale) */
static int parse_keycol(PyObject *t, KeyCol *k) {
    if (check_tuple(t, 10, "key column") < 0) return -1;
    if (as_ssize(t, 0, &k->offset) < 0 || as_int(t, 1, &k->kind) < 0 ||
        as_int(t, 3, &k->collation) < 0 || as_ssize(t, 5, &k->prefix_len) < 0 ||
        as_int(t, 6, &k->prefix_bytes) < 0 || as_int(t, 8, &k->precision) < 0 ||
        as_int(t, 9, &k->scale) < 0)
        return -1;
    k->encode = PyTuple_GET_ITEM(t, 2);
    k->collate = PyTuple_GET_ITEM(t, 4);
    k->truncate = PyTuple_GET_ITEM(t, 7);
    return 0;
}

static int parse_keycols(PyObject *t, KeyCol **out, Py_ssize_t *n) {
    if (!PyTuple_Check(t)) {
        PyErr_SetString(PyExc_TypeError, "kernel plan: key columns must be a tuple");
        return -1;
    }
    *n = PyTuple_GET_SIZE(t);
    *out = PyMem_Calloc(*n ? *n : 1, sizeof(KeyCol));
    if (!*out) return -1;
    for (Py_ssize_t i = 0; i < *n; i++)
        if (parse_keycol(PyTuple_GET_ITEM(t, i), &(*out)[i]) < 0) return -1;
    return 0;
}

/* (col_id, from_row, position, as_count, kind, encode, prefix_len, prefix_bytes, truncate,
 *  precision, scale) */
static int parse_restcol(PyObject *t, RestCol *r) {
    if (check_tuple(t, 11, "restore column") < 0) return -1;
    Py_ssize_t id;
    if (as_ssize(t, 0, &id) < 0 || as_int(t, 1, &r->from_row) < 0 ||
        as_ssize(t, 2, &r->position) < 0 || as_int(t, 3, &r->as_count) < 0 ||
        as_int(t, 4, &r->kind) < 0 || as_ssize(t, 6, &r->prefix_len) < 0 ||
        as_int(t, 7, &r->prefix_bytes) < 0 || as_int(t, 9, &r->precision) < 0 ||
        as_int(t, 10, &r->scale) < 0)
        return -1;
    r->col_id = (long)id;
    r->encode = PyTuple_GET_ITEM(t, 5);
    r->truncate = PyTuple_GET_ITEM(t, 8);
    return 0;
}

static void kernel_free(Kernel *k) {
    if (k->indexes) {
        for (Py_ssize_t i = 0; i < k->nindex; i++) {
            PyMem_Free(k->indexes[i].cols);
            PyMem_Free(k->indexes[i].restore);
        }
    }
    PyMem_Free(k->indexes);
    PyMem_Free(k->pk);
    PyMem_Free(k->row);
    k->indexes = NULL;
    k->pk = NULL;
    k->row = NULL;
    Py_CLEAR(k->plan);
}

static void Kernel_dealloc(Kernel *k) {
    kernel_free(k);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

/* plan: (record_prefix, common, handle_offset, handle_unsigned, pk_columns, row_columns,
 *        indexes, auto_inc, auto_random, shard_bits, shard_seed_u64, row_failure, encode_error,
 *        Decimal, MysqlTime, general_ci weight table)
 * row column: (col_id, offset, kind, encode, null_default, precision, scale)
 * index: (prefix, unique, key columns, restore columns or None) */
static int Kernel_init(Kernel *k, PyObject *args, PyObject *kwds) {
    PyObject *plan;
    if (!PyArg_ParseTuple(args, "O", &plan)) return -1;
    kernel_free(k);
    if (check_tuple(plan, 16, "the table plan") < 0) return -1;
    PyObject *weights = PyTuple_GET_ITEM(plan, 15);
    if (!PyBytes_Check(weights) || PyBytes_GET_SIZE(weights) != 0x20000) {
        PyErr_SetString(PyExc_TypeError, "kernel plan: the general_ci table must be 131072 bytes");
        return -1;
    }
    if (!general_ci_table) { /* the same objects for every plan: keep the first for good */
        DecimalType = Py_NewRef(PyTuple_GET_ITEM(plan, 13));
        MysqlTimeType = Py_NewRef(PyTuple_GET_ITEM(plan, 14));
        general_ci_table = Py_NewRef(weights);
        general_ci_weights = (const unsigned char *)PyBytes_AS_STRING(weights);
    }
    Py_INCREF(plan);
    k->plan = plan;
    k->record_prefix = PyTuple_GET_ITEM(plan, 0);
    if (!PyBytes_Check(k->record_prefix)) {
        PyErr_SetString(PyExc_TypeError, "kernel plan: record prefix must be bytes");
        return -1;
    }
    if (as_int(plan, 1, &k->common) < 0 || as_ssize(plan, 2, &k->handle_offset) < 0 ||
        as_int(plan, 3, &k->handle_unsigned) < 0 || as_ssize(plan, 7, &k->auto_inc) < 0 ||
        as_ssize(plan, 8, &k->auto_random) < 0 || as_int(plan, 9, &k->shard_bits) < 0)
        return -1;
    k->shard_seed = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(plan, 10));
    if (PyErr_Occurred()) return -1;
    k->row_failure = PyTuple_GET_ITEM(plan, 11);
    k->encode_error = PyTuple_GET_ITEM(plan, 12);
    if (parse_keycols(PyTuple_GET_ITEM(plan, 4), &k->pk, &k->npk) < 0) return -1;
    PyObject *rows = PyTuple_GET_ITEM(plan, 5);
    if (!PyTuple_Check(rows)) return check_tuple(rows, -1, "row columns");
    k->nrow = PyTuple_GET_SIZE(rows);
    k->row = PyMem_Calloc(k->nrow ? k->nrow : 1, sizeof(ValCol));
    if (!k->row) return -1;
    for (Py_ssize_t i = 0; i < k->nrow; i++) {
        PyObject *t = PyTuple_GET_ITEM(rows, i);
        Py_ssize_t id;
        if (check_tuple(t, 7, "row column") < 0 || as_ssize(t, 0, &id) < 0 ||
            as_ssize(t, 1, &k->row[i].offset) < 0 || as_int(t, 2, &k->row[i].kind) < 0 ||
            as_int(t, 4, &k->row[i].null_default) < 0 || as_int(t, 5, &k->row[i].precision) < 0 ||
            as_int(t, 6, &k->row[i].scale) < 0)
            return -1;
        k->row[i].col_id = (long)id;
        k->row[i].encode = PyTuple_GET_ITEM(t, 3);
    }
    PyObject *indexes = PyTuple_GET_ITEM(plan, 6);
    if (!PyTuple_Check(indexes)) return check_tuple(indexes, -1, "indexes");
    k->nindex = PyTuple_GET_SIZE(indexes);
    k->indexes = PyMem_Calloc(k->nindex ? k->nindex : 1, sizeof(Index));
    if (!k->indexes) return -1;
    for (Py_ssize_t i = 0; i < k->nindex; i++) {
        PyObject *t = PyTuple_GET_ITEM(indexes, i);
        Index *ix = &k->indexes[i];
        if (check_tuple(t, 4, "index") < 0 || as_int(t, 1, &ix->unique) < 0) return -1;
        ix->prefix = PyTuple_GET_ITEM(t, 0);
        if (!PyBytes_Check(ix->prefix)) {
            PyErr_SetString(PyExc_TypeError, "kernel plan: index prefix must be bytes");
            return -1;
        }
        if (parse_keycols(PyTuple_GET_ITEM(t, 2), &ix->cols, &ix->ncols) < 0) return -1;
        PyObject *restore = PyTuple_GET_ITEM(t, 3);
        if (restore == Py_None) {
            ix->nrestore = -1;
            continue;
        }
        if (!PyTuple_Check(restore)) return check_tuple(restore, -1, "restore columns");
        ix->nrestore = PyTuple_GET_SIZE(restore);
        ix->restore = PyMem_Calloc(ix->nrestore ? ix->nrestore : 1, sizeof(RestCol));
        if (!ix->restore) return -1;
        for (Py_ssize_t j = 0; j < ix->nrestore; j++)
            if (parse_restcol(PyTuple_GET_ITEM(restore, j), &ix->restore[j]) < 0) return -1;
    }
    return 0;
}

/* --- per value --------------------------------------------------------------------------- */

/* A new reference to value cut to a prefix (chars of UTF-8, or bytes). */
static PyObject *cut_prefix(PyObject *value, Py_ssize_t length, int in_bytes, PyObject *truncate) {
    if (length < 0 || value == Py_None || !PyBytes_CheckExact(value)) {
        if (length < 0 || value == Py_None) {
            Py_INCREF(value);
            return value;
        }
        return PyObject_CallOneArg(truncate, value);
    }
    Py_ssize_t n = PyBytes_GET_SIZE(value);
    if (n <= length) {
        Py_INCREF(value);
        return value;
    }
    if (in_bytes) return PyBytes_FromStringAndSize(PyBytes_AS_STRING(value), length);
    Py_ssize_t cut = -1;
    Py_ssize_t chars = utf8_scan((const unsigned char *)PyBytes_AS_STRING(value), n, NULL, length,
                                 &cut);
    if (chars < 0) return PyObject_CallOneArg(truncate, value); /* invalid UTF-8: Python's rule */
    if (chars <= length) {
        Py_INCREF(value);
        return value;
    }
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(value), cut);
}

/* the comparable datum of a non-NULL value */
static int put_key(Buf *b, const KeyCol *c, PyObject *v) {
    switch (c->kind) {
    case K_INT:
        if (PyLong_CheckExact(v)) {
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (!overflow && !(x == -1 && PyErr_Occurred())) {
                if (buf_byte(b, 0x03) < 0) return -1;
                return buf_be64(b, (uint64_t)x ^ 0x8000000000000000ULL);
            }
            PyErr_Clear();
        }
        break;
    case K_UINT:
        if (PyLong_CheckExact(v)) {
            unsigned long long x = PyLong_AsUnsignedLongLong(v);
            if (!(x == (unsigned long long)-1 && PyErr_Occurred())) {
                if (buf_byte(b, 0x04) < 0) return -1;
                return buf_be64(b, x);
            }
            PyErr_Clear();
        }
        break;
    case K_FLOAT:
        if (PyFloat_CheckExact(v)) {
            if (buf_byte(b, 0x05) < 0) return -1;
            return buf_be64(b, float_bits(PyFloat_AS_DOUBLE(v)));
        }
        break;
    case K_TIME: {
        uint64_t packed;
        if (pack_time(v, &packed) == 0) {
            if (buf_byte(b, 0x04) < 0) return -1;
            return buf_be64(b, packed);
        }
        break;
    }
    case K_DECIMAL: {
        Py_ssize_t start = b->len;
        if (buf_byte(b, 0x06) < 0) return -1;
        int rc = put_decimal(b, v, c->precision, c->scale);
        if (rc <= 0) return rc;
        b->len = start;
        break;
    }
    case K_BYTES:
        if (PyBytes_CheckExact(v)) {
            const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(v);
            Py_ssize_t n = PyBytes_GET_SIZE(v);
            if (c->collation != C_BINARY)
                while (n > 0 && s[n - 1] == ' ') n--;
            if (c->collation == C_GENERAL_CI) {
                /* 16-bit weights, big-endian, up to the first invalid UTF-8 sequence */
                unsigned char stack[512];
                unsigned char *w = 2 * n <= (Py_ssize_t)sizeof stack ? stack : PyMem_Malloc(2 * n);
                if (!w) {
                    PyErr_NoMemory();
                    return -1;
                }
                Py_ssize_t out = 0, i = 0;
                while (i < n) {
                    Py_ssize_t len = utf8_next(s + i, n - i);
                    if (len < 0) break;
                    uint32_t cp = utf8_code_point(s + i, len);
                    if (cp > 0xFFFF) {
                        w[out] = 0xFF;
                        w[out + 1] = 0xFD;
                    } else {
                        w[out] = general_ci_weights[2 * cp];
                        w[out + 1] = general_ci_weights[2 * cp + 1];
                    }
                    out += 2;
                    i += len;
                }
                int rc = buf_byte(b, 0x01);
                if (rc == 0) rc = put_memcomparable(b, w, out);
                if (w != stack) PyMem_Free(w);
                return rc;
            }
            if (buf_byte(b, 0x01) < 0) return -1;
            return put_memcomparable(b, s, n);
        }
        break;
    }
    return buf_call(b, c->encode, v);
}

/* the row-format-v2 column data of a non-NULL value */
static int put_value(Buf *b, int kind, PyObject *encode, PyObject *v, int precision, int scale) {
    switch (kind) {
    case K_DECIMAL: {
        int rc = put_decimal(b, v, precision, scale);
        if (rc <= 0) return rc;
        break;
    }
    case K_INT:
        if (PyLong_CheckExact(v)) {
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (!overflow && !(x == -1 && PyErr_Occurred())) return put_int_value(b, x);
            PyErr_Clear();
        }
        break;
    case K_UINT:
        if (PyLong_CheckExact(v)) {
            unsigned long long x = PyLong_AsUnsignedLongLong(v);
            if (!(x == (unsigned long long)-1 && PyErr_Occurred())) return put_uint_value(b, x);
            PyErr_Clear();
        }
        break;
    case K_FLOAT:
        if (PyFloat_CheckExact(v)) return buf_be64(b, float_bits(PyFloat_AS_DOUBLE(v)));
        break;
    case K_BYTES:
        if (PyBytes_CheckExact(v)) return buf_pybytes(b, v);
        break;
    case K_TIME: {
        uint64_t packed;
        if (pack_time(v, &packed) == 0) return put_uint_value(b, packed);
        break;
    }
    }
    return buf_call(b, encode, v);
}

/* --- per row ----------------------------------------------------------------------------- */

typedef struct {
    Buf key, value, handle;
    RowBuilder row;
    PyObject *pairs;
    uint64_t checksum;
    unsigned long long size;
} Batch;

static int emit(Batch *bt, Buf *key, Buf *value) {
    PyObject *k = PyBytes_FromStringAndSize(key->p, key->len);
    PyObject *v = k ? PyBytes_FromStringAndSize(value->p, value->len) : NULL;
    PyObject *pair = v ? PyTuple_Pack(2, k, v) : NULL;
    Py_XDECREF(k);
    Py_XDECREF(v);
    if (!pair) return -1;
    PyObject_GC_UnTrack(pair); /* two bytes objects: no cycle to find, no GC passes to pay */
    int rc = PyList_Append(bt->pairs, pair);
    Py_DECREF(pair);
    uint64_t crc = crc_update(0, (const unsigned char *)key->p, key->len);
    bt->checksum ^= crc_update(crc, (const unsigned char *)value->p, value->len);
    bt->size += (unsigned long long)(key->len + value->len);
    return rc;
}

static uint64_t shard(const Kernel *k, uint64_t row_id) {
    if (!k->shard_bits) return row_id;
    uint64_t mixed = (row_id + k->shard_seed) * 0x9E3779B97F4A7C15ULL;
    uint64_t s = (mixed >> 32) & ((1ULL << k->shard_bits) - 1);
    return row_id | (s << (63 - k->shard_bits));
}

static int put_restored(Batch *bt, const Index *ix, PyObject **vals, PyObject **indexed, Buf *out) {
    RowBuilder *r = &bt->row;
    if (row_reset(r, ix->nrestore) < 0) return -1;
    for (Py_ssize_t j = 0; j < ix->nrestore; j++) {
        const RestCol *c = &ix->restore[j];
        PyObject *v;
        if (c->from_row) {
            v = cut_prefix(vals[c->position], c->prefix_len, c->prefix_bytes, c->truncate);
            if (!v) return -1;
        } else {
            v = indexed[c->position];
            Py_INCREF(v);
        }
        int rc = 0;
        if (c->as_count) {
            Py_ssize_t spaces = 0;
            if (v != Py_None) {
                if (!PyBytes_Check(v)) {
                    Py_DECREF(v);
                    PyErr_SetString(PyExc_TypeError, "restored space count of a non-bytes value");
                    return -1;
                }
                const char *s = PyBytes_AS_STRING(v);
                Py_ssize_t n = PyBytes_GET_SIZE(v);
                while (spaces < n && s[n - 1 - spaces] == ' ') spaces++;
            }
            rc = put_uint_value(&r->data, (uint64_t)spaces);
            row_ended(r, c->col_id);
        } else if (v == Py_None) {
            row_null(r, c->col_id);
        } else {
            rc = put_value(&r->data, c->kind, c->encode, v, c->precision, c->scale);
            row_ended(r, c->col_id);
        }
        Py_DECREF(v);
        if (rc < 0) return -1;
    }
    return row_assemble(out, r);
}

static int encode_index(const Kernel *k, Batch *bt, const Index *ix, PyObject **vals, int64_t handle) {
    PyObject *stack[16];
    PyObject **indexed = ix->ncols <= 16 ? stack : PyMem_Malloc(ix->ncols * sizeof(PyObject *));
    if (!indexed) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t got = 0;
    int rc = -1, distinct = ix->unique;
    Buf *key = &bt->key, *value = &bt->value;
    key->len = value->len = 0;
    for (; got < ix->ncols; got++) {
        const KeyCol *c = &ix->cols[got];
        indexed[got] = cut_prefix(vals[c->offset], c->prefix_len, c->prefix_bytes, c->truncate);
        if (!indexed[got]) goto done;
        if (indexed[got] == Py_None) distinct = 0;
    }
    if (buf_pybytes(key, ix->prefix) < 0) goto done;
    for (Py_ssize_t i = 0; i < ix->ncols; i++) {
        if (indexed[i] == Py_None) {
            if (buf_byte(key, 0x00) < 0) goto done;
        } else if (put_key(key, &ix->cols[i], indexed[i]) < 0) {
            goto done;
        }
    }
    if (!distinct) {
        if (!k->common && buf_byte(key, 0x03) < 0) goto done;
        if (buf_put(key, bt->handle.p, bt->handle.len) < 0) goto done;
    }
    if (k->common) {
        static const unsigned char head[3] = {0x00, 0x7D, 0x01};
        if (buf_put(value, head, 3) < 0) goto done;
        if (distinct) {
            unsigned char h[3] = {127, (unsigned char)(bt->handle.len >> 8),
                                  (unsigned char)bt->handle.len};
            if (buf_put(value, h, 3) < 0 || buf_put(value, bt->handle.p, bt->handle.len) < 0)
                goto done;
        }
        if (ix->nrestore >= 0 && put_restored(bt, ix, vals, indexed, value) < 0) goto done;
    } else if (ix->nrestore < 0) {
        if (distinct ? buf_be64(value, (uint64_t)handle) < 0 : buf_byte(value, '0') < 0) goto done;
    } else {
        if (buf_byte(value, 0) < 0) goto done; /* tail length, fixed below */
        if (put_restored(bt, ix, vals, indexed, value) < 0) goto done;
        if (distinct) {
            value->p[0] = 8;
            if (buf_be64(value, (uint64_t)handle) < 0) goto done;
        } else {
            Py_ssize_t padding = 10 - value->len;
            if (padding < 0) padding = 0;
            value->p[0] = (char)padding;
            static const char zeros[10] = {0};
            if (buf_put(value, zeros, padding) < 0) goto done;
        }
    }
    rc = emit(bt, key, value);
done:
    for (Py_ssize_t i = 0; i < got; i++) Py_XDECREF(indexed[i]);
    if (indexed != stack) PyMem_Free(indexed);
    return rc;
}

/* the handle: *handle (int handles) and its key bytes in bt->handle */
static int encode_handle(const Kernel *k, Batch *bt, PyObject **vals, uint64_t row_id, int64_t *handle) {
    bt->handle.len = 0;
    if (k->handle_offset >= 0) {
        PyObject *h = vals[k->handle_offset];
        uint64_t bits;
        if (k->handle_unsigned) {
            bits = PyLong_AsUnsignedLongLong(h);
            if (bits == (uint64_t)-1 && PyErr_Occurred()) return -1;
        } else {
            long long x = PyLong_AsLongLong(h);
            if (x == -1 && PyErr_Occurred()) return -1;
            bits = (uint64_t)x;
        }
        *handle = (int64_t)bits;
        return buf_be64(&bt->handle, bits ^ 0x8000000000000000ULL);
    }
    if (k->npk) {
        for (Py_ssize_t i = 0; i < k->npk; i++) {
            const KeyCol *c = &k->pk[i];
            PyObject *v = cut_prefix(vals[c->offset], c->prefix_len, c->prefix_bytes, c->truncate);
            if (!v) return -1;
            int rc = v == Py_None ? buf_call(&bt->handle, c->encode, v) : put_key(&bt->handle, c, v);
            Py_DECREF(v);
            if (rc < 0) return -1;
        }
        return 0;
    }
    *handle = (int64_t)shard(k, row_id);
    return buf_be64(&bt->handle, (uint64_t)*handle ^ 0x8000000000000000ULL);
}

static int encode_row(const Kernel *k, Batch *bt, PyObject **vals, uint64_t row_id) {
    int64_t handle = 0;
    if (encode_handle(k, bt, vals, row_id, &handle) < 0) return -1;
    RowBuilder *r = &bt->row;
    if (row_reset(r, k->nrow) < 0) return -1;
    for (Py_ssize_t i = 0; i < k->nrow; i++) {
        const ValCol *c = &k->row[i];
        PyObject *v = vals[c->offset];
        if (v == Py_None) {
            if (!c->null_default) row_null(r, c->col_id);
        } else {
            if (put_value(&r->data, c->kind, c->encode, v, c->precision, c->scale) < 0) return -1;
            row_ended(r, c->col_id);
        }
    }
    bt->key.len = bt->value.len = 0;
    if (buf_pybytes(&bt->key, k->record_prefix) < 0 ||
        buf_put(&bt->key, bt->handle.p, bt->handle.len) < 0 || row_assemble(&bt->value, r) < 0 ||
        emit(bt, &bt->key, &bt->value) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < k->nindex; i++)
        if (encode_index(k, bt, &k->indexes[i], vals, handle) < 0) return -1;
    return 0;
}

/* --- conversion -------------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t offset, position;
    PyObject *convert;
    long long low; /* P_INT: the range, low in int64, high in uint64 */
    unsigned long long high;
    int pt;
    Py_ssize_t max_chars, max_bytes, min_bytes;
    int no_trailing_space;
    int precision, scale, unsigned_decimal; /* P_DECIMAL */
    int datetime;                           /* DT_* */
} Step;

/* a Decimal the converter returns as it is: exponent -scale, at most precision digits */
static int decimal_passes(const Step *s, PyObject *v) {
    unsigned char digits[80];
    int count, negative;
    long e;
    int rc = decimal_parts(v, &negative, digits, (int)sizeof digits, &count, &e);
    if (rc < 0) PyErr_Clear(); /* the converter will meet the same problem and report it */
    return rc == 0 && e == -s->scale && count <= s->precision && !(s->unsigned_decimal && negative);
}

static inline int two(const unsigned char *p) {
    return (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9') ? (p[0] - '0') * 10 + (p[1] - '0') : -1;
}

/* lightning_core.schema.convert.DatetimeText: a new MysqlTime, or NULL with no error set */
static PyObject *datetime_text(const Step *s, PyObject *v) {
    if (!PyBytes_CheckExact(v)) return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(v);
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(v);
    if (n != 10 && n != 19) return NULL;
    int hi = two(p), lo = two(p + 2), month = two(p + 5), day = two(p + 8);
    if (hi < 0 || lo < 0 || month < 1 || month > 12 || day < 1 || p[4] != '-' || p[7] != '-')
        return NULL;
    int year = hi * 100 + lo, hour = 0, minute = 0, second = 0;
    if (n == 19) {
        hour = two(p + 11);
        minute = two(p + 14);
        second = two(p + 17);
        if (p[10] != ' ' || p[13] != ':' || p[16] != ':' || hour < 0 || hour > 23 || minute < 0 ||
            minute > 59 || second < 0 || second > 59)
            return NULL;
    }
    static const int days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if (day > days[month] + (month == 2 && leap)) return NULL;
    if (s->datetime == DT_DATE) hour = minute = second = 0;
    PyObject *fields = Py_BuildValue("(iiiiiii)", year, month, day, hour, minute, second, 0);
    if (!fields) return NULL;
    PyObject *args = PyTuple_Pack(1, fields);
    Py_DECREF(fields);
    if (!args) return NULL;
    /* what the NamedTuple's __new__ does, without the Python-level call */
    PyObject *out = PyTuple_Type.tp_new((PyTypeObject *)MysqlTimeType, args, NULL);
    Py_DECREF(args);
    return out;
}

/* whether the converter would return v unchanged (lightning_core.schema.convert.Passthrough) */
static int passes(const Step *s, PyObject *v) {
    switch (s->pt) {
    case P_INT: {
        if (!PyLong_CheckExact(v)) return 0;
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(v);
            if (u == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                return 0;
            }
            return u <= s->high;
        }
        if (overflow < 0 || (x == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        return x >= s->low && (x < 0 || (unsigned long long)x <= s->high);
    }
    case P_DECIMAL:
        return decimal_passes(s, v);
    case P_BINARY:
    case P_UTF8:
    case P_UTF8MB3:
    case P_ASCII: {
        if (!PyBytes_CheckExact(v)) return 0;
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(v);
        if ((s->max_bytes >= 0 && n > s->max_bytes) || n < s->min_bytes) return 0;
        if (s->no_trailing_space && n && p[n - 1] == ' ') return 0;
        if (s->pt == P_BINARY) return 1;
        int four = 0;
        Py_ssize_t chars = utf8_scan(p, n, &four, -1, NULL);
        if (chars < 0 || (s->max_chars >= 0 && chars > s->max_chars)) return 0;
        if (s->pt == P_UTF8MB3 && four) return 0;
        if (s->pt == P_ASCII && chars != n) return 0;
        return 1;
    }
    }
    return 0;
}

static int parse_steps(PyObject *steps, Step **out, Py_ssize_t *n) {
    if (!PyTuple_Check(steps)) {
        PyErr_SetString(PyExc_TypeError, "steps must be a tuple");
        return -1;
    }
    *n = PyTuple_GET_SIZE(steps);
    *out = PyMem_Calloc(*n ? *n : 1, sizeof(Step));
    if (!*out) return -1;
    for (Py_ssize_t i = 0; i < *n; i++) {
        /* (offset, position, convert, pt, low, high, max_chars, max_bytes, min_bytes, no_space,
         *  precision, scale, unsigned, datetime) */
        PyObject *t = PyTuple_GET_ITEM(steps, i);
        Step *s = &(*out)[i];
        if (check_tuple(t, 14, "conversion step") < 0 || as_ssize(t, 0, &s->offset) < 0 ||
            as_ssize(t, 1, &s->position) < 0 || as_int(t, 3, &s->pt) < 0 ||
            as_ssize(t, 6, &s->max_chars) < 0 || as_ssize(t, 7, &s->max_bytes) < 0 ||
            as_ssize(t, 8, &s->min_bytes) < 0 || as_int(t, 9, &s->no_trailing_space) < 0 ||
            as_int(t, 10, &s->precision) < 0 || as_int(t, 11, &s->scale) < 0 ||
            as_int(t, 12, &s->unsigned_decimal) < 0 || as_int(t, 13, &s->datetime) < 0)
            return -1;
        s->convert = PyTuple_GET_ITEM(t, 2);
        s->low = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 4));
        s->high = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 5));
        if (PyErr_Occurred()) return -1;
    }
    return 0;
}

/* wrap the pending EncodeError / IndexError as RowFailure(index, exc); others pass */
static void fail_row(const Kernel *k, Py_ssize_t index) {
    if (!PyErr_ExceptionMatches(k->encode_error) && !PyErr_ExceptionMatches(PyExc_IndexError))
        return;
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb) PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyObject *failure = PyObject_CallFunction(k->row_failure, "nO", index, exc);
    if (failure) {
        PyException_SetCause(failure, exc); /* steals exc */
        PyErr_SetObject((PyObject *)Py_TYPE(failure), failure);
        Py_DECREF(failure);
    } else {
        Py_DECREF(exc);
    }
}

static PyObject *Kernel_encode(Kernel *k, PyObject *args) {
    PyObject *rows, *steps_t, *defaults;
    unsigned long long first_row_id;
    if (!PyArg_ParseTuple(args, "OOO!K", &rows, &steps_t, &PyList_Type, &defaults, &first_row_id))
        return NULL;
    Py_ssize_t ncols = PyList_GET_SIZE(defaults), nsteps = 0;
    Step *steps = NULL;
    PyObject **vals = PyMem_Calloc(ncols ? ncols : 1, sizeof(PyObject *));
    PyObject *seq = PySequence_Fast(rows, "rows must be a sequence");
    PyObject *max_auto = PyLong_FromLong(0);
    Batch bt;
    memset(&bt, 0, sizeof bt);
    bt.pairs = PyList_New(0);
    PyObject *result = NULL;
    if (!vals || !seq || !max_auto || !bt.pairs || parse_steps(steps_t, &steps, &nsteps) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < nsteps; i++)
        if (steps[i].offset < 0 || steps[i].offset >= ncols) {
            PyErr_SetString(PyExc_ValueError, "a conversion step's offset is out of range");
            goto done;
        }
    Py_ssize_t nrows = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t r = 0; r < nrows; r++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, r);
        for (Py_ssize_t c = 0; c < ncols; c++) {
            Py_XSETREF(vals[c], Py_NewRef(PyList_GET_ITEM(defaults, c)));
        }
        uint64_t row_id = first_row_id + (uint64_t)r;
        int failed = 0;
        for (Py_ssize_t i = 0; i < nsteps && !failed; i++) {
            const Step *s = &steps[i];
            PyObject *item;
            if (PyTuple_CheckExact(row)) {
                if (s->position >= PyTuple_GET_SIZE(row)) {
                    PyErr_SetString(PyExc_IndexError, "tuple index out of range");
                    failed = 1;
                    break;
                }
                item = Py_NewRef(PyTuple_GET_ITEM(row, s->position));
            } else {
                item = PySequence_GetItem(row, s->position);
                if (!item) {
                    failed = 1;
                    break;
                }
            }
            PyObject *converted = NULL;
            if (s->pt != P_NONE && passes(s, item)) {
                converted = item;
            } else if (s->datetime != DT_NONE && (converted = datetime_text(s, item)) != NULL) {
                Py_DECREF(item);
            } else {
                if (PyErr_Occurred()) {
                    Py_DECREF(item);
                    failed = 1;
                    break;
                }
                converted = PyObject_CallOneArg(s->convert, item);
                Py_DECREF(item);
                if (!converted) {
                    failed = 1;
                    break;
                }
            }
            Py_XSETREF(vals[s->offset], converted);
        }
        if (!failed && k->auto_inc >= 0) {
            if (vals[k->auto_inc] == Py_None) {
                Py_SETREF(vals[k->auto_inc], PyLong_FromUnsignedLongLong(row_id));
                if (!vals[k->auto_inc]) failed = 1;
            } else {
                int more = PyObject_RichCompareBool(vals[k->auto_inc], max_auto, Py_GT);
                if (more < 0) failed = 1;
                else if (more) Py_SETREF(max_auto, Py_NewRef(vals[k->auto_inc]));
            }
        }
        if (!failed && k->auto_random >= 0 && vals[k->auto_random] == Py_None) {
            Py_SETREF(vals[k->auto_random], PyLong_FromUnsignedLongLong(shard(k, row_id)));
            if (!vals[k->auto_random]) failed = 1;
        }
        if (failed || encode_row(k, &bt, vals, row_id) < 0) {
            fail_row(k, r);
            goto done;
        }
    }
    result = Py_BuildValue("(OKKO)", bt.pairs, (unsigned long long)bt.checksum, bt.size, max_auto);
done:
    if (vals)
        for (Py_ssize_t c = 0; c < ncols; c++) Py_XDECREF(vals[c]);
    PyMem_Free(vals);
    PyMem_Free(steps);
    Py_XDECREF(seq);
    Py_XDECREF(max_auto);
    Py_XDECREF(bt.pairs);
    PyMem_Free(bt.key.p);
    PyMem_Free(bt.value.p);
    PyMem_Free(bt.handle.p);
    row_free(&bt.row);
    return result;
}

/* --- module ------------------------------------------------------------------------------ */

static PyObject *crc64(PyObject *self, PyObject *args) {
    Py_buffer data;
    unsigned long long crc = 0;
    if (!PyArg_ParseTuple(args, "y*|K", &data, &crc)) return NULL;
    uint64_t out = crc_update(crc, data.buf, data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLongLong(out);
}

static PyMethodDef Kernel_methods[] = {
    {"encode", (PyCFunction)Kernel_encode, METH_VARARGS,
     "encode(rows, steps, defaults, first_row_id) -> (pairs, checksum, bytes, max_auto)"},
    {NULL}};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "lightning_encoder_native._kernel.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A table plan compiled for the native row loop.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Kernel_init,
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_methods = Kernel_methods,
};

static PyMethodDef module_methods[] = {
    {"crc64", crc64, METH_VARARGS, "crc64(data, crc=0): CRC-64/XZ continuing from crc."},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernel",
                                    "The kv-native row loop.", -1, module_methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernel(void) {
    crc_init();
    if (PyType_Ready(&KernelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
