/* The kv-native kernel: runs a TableKVEncoder's prepared plan (see plan.py in lightning_core.kv)
 * over a batch of source rows, byte for byte as the Python encoder does.
 *
 * Each step has a kind code; kinds this file knows are done here, and OTHER (or any value of an
 * unexpected shape) goes to the step's Python callable, so the bytes never depend on which side
 * did the work. Layouts: lightning_core/kv/{memcomparable,rowcodec,keys}.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* kind codes: lightning_core.kv.plan.KeyKind / ValueKind / CollationKind */
enum { K_OTHER = 0, K_INT = 1, K_UINT = 2, K_FLOAT = 3, K_BYTES = 4, K_TIME = 5, K_DECIMAL = 6 };
enum { C_BINARY = 0, C_PAD_BIN = 1, C_GENERAL_CI = 2 };
/* passthrough codes (lightning_encoder_native.kernel) */
enum { P_NONE = 0, P_INT = 1, P_BINARY = 2, P_UTF8 = 3, P_UTF8MB3 = 4, P_ASCII = 5, P_DECIMAL = 6 };
/* DatetimeText shortcut codes */
enum { DT_NONE = 0, DT_DATETIME = 1, DT_DATE = 2 };

/* classes and tables the plan hands over (set by Kernel.__init__; one per process is enough,
 * they are the same objects for every table) */
static PyObject *DecimalType, *MysqlTimeType;
static const unsigned char *general_ci_weights; /* 2 bytes big-endian per BMP code point */
static PyObject *general_ci_table;

/* --- byte buffers ------------------------------------------------------------------------ */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *data, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static inline int buf_byte(Buf *b, unsigned char c) { return buf_put(b, &c, 1); }

static inline int buf_be64(Buf *b, uint64_t v) {
    unsigned char out[8];
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)v;
        v >>= 8;
    }
    return buf_put(b, out, 8);
}

static inline int buf_pybytes(Buf *b, PyObject *bytes) {
    return buf_put(b, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

/* append the bytes a Python callable returns for value */
static int buf_call(Buf *b, PyObject *fn, PyObject *value) {
    PyObject *out = PyObject_CallOneArg(fn, value);
    if (!out) return -1;
    if (!PyBytes_Check(out)) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_TypeError, "an encoder callable returned non-bytes");
        return -1;
    }
    int rc = buf_pybytes(b, out);
    Py_DECREF(out);
    return rc;
}

/* --- CRC-64/XZ (ECMA-182 reflected), slicing by 8 ---------------------------------------- */

static uint64_t crc_table[8][256];

static void crc_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xC96C5795D7870F42ULL : c >> 1;
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint64_t crc_update(uint64_t crc, const unsigned char *p, Py_ssize_t n) {
    crc = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* little-endian hosts (x86-64, aarch64) */
        w ^= crc;
        crc = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
              crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
              crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
              crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* --- datum payloads ---------------------------------------------------------------------- */

static inline uint64_t float_bits(double v) {
    uint64_t bits;
    if (v == 0.0) v = 0.0; /* -0.0 encodes like 0.0 */
    memcpy(&bits, &v, 8);
    if (v >= 0) return bits | 0x8000000000000000ULL;
    return ~bits;
}

static int put_memcomparable(Buf *b, const unsigned char *d, Py_ssize_t n) {
    if (buf_reserve(b, (n / 8 + 1) * 9) < 0) return -1;
    unsigned char *o = (unsigned char *)b->p + b->len;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(o, d + i, 8);
        o[8] = 0xFF;
        o += 9;
    }
    Py_ssize_t rest = n - i;
    memset(o, 0, 8);
    memcpy(o, d + i, rest);
    o[8] = (unsigned char)(0xFF - (8 - rest));
    o += 9;
    b->len = (char *)o - b->p;
    return 0;
}

static inline int put_uint_value(Buf *b, uint64_t v) {
    unsigned char out[8];
    int n = v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : v <= 0xFFFFFFFFULL ? 4 : 8;
    for (int i = 0; i < n; i++) out[i] = (unsigned char)(v >> (8 * i));
    return buf_put(b, out, n);
}

static inline int put_int_value(Buf *b, int64_t v) {
    unsigned char out[8];
    int n = (v >= -0x80 && v <= 0x7F)                 ? 1
            : (v >= -0x8000 && v <= 0x7FFF)           ? 2
            : (v >= -0x80000000LL && v <= 0x7FFFFFFF) ? 4
                                                      : 8;
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < n; i++) out[i] = (unsigned char)(u >> (8 * i));
    return buf_put(b, out, n);
}

/* packed DATE/DATETIME/TIMESTAMP of a MysqlTime (a 7-tuple); -1 with no error set: odd shape */
static int pack_time(PyObject *v, uint64_t *out) {
    if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 7) return -1;
    long long f[7];
    for (int i = 0; i < 7; i++) {
        PyObject *item = PyTuple_GET_ITEM(v, i);
        if (!PyLong_CheckExact(item)) return -1;
        int overflow = 0;
        f[i] = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow || f[i] < 0 || f[i] > 0xFFFFFF) return -1;
    }
    uint64_t ymd = (((uint64_t)f[0] * 13 + (uint64_t)f[1]) << 5) | (uint64_t)f[2];
    uint64_t hms = ((uint64_t)f[3] << 12) | ((uint64_t)f[4] << 6) | (uint64_t)f[5];
    *out = (((ymd << 17) | hms) << 24) | (uint64_t)f[6];
    return 0;
}

/* The length of the valid UTF-8 sequence at s (as Python's strict decoder accepts it: no
 * overlongs, surrogates or code points above U+10FFFF), or -1. */
static inline Py_ssize_t utf8_next(const unsigned char *s, Py_ssize_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    Py_ssize_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return -1;
    }
    if (len > n) return -1;
    for (Py_ssize_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return -1;
    return len;
}

static inline uint32_t utf8_code_point(const unsigned char *s, Py_ssize_t len) {
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = s[0] & lead_mask[len];
    for (Py_ssize_t k = 1; k < len; k++) cp = (cp << 6) | (s[k] & 0x3F);
    return cp;
}

/* Characters of valid UTF-8 (-1 if invalid); *four: a 4-byte sequence occurs. stop_chars >= 0:
 * *cut = bytes of the first stop_chars characters. */
static Py_ssize_t utf8_scan(const unsigned char *s, Py_ssize_t n, int *four, Py_ssize_t stop_chars,
                            Py_ssize_t *cut) {
    Py_ssize_t i = 0, chars = 0;
    while (i < n) {
        if (chars == stop_chars && cut) *cut = i;
        if (s[i] < 0x80) {
            i++;
            chars++;
            continue;
        }
        Py_ssize_t len = utf8_next(s + i, n - i);
        if (len < 0) return -1;
        if (len == 4 && four) *four = 1;
        i += len;
        chars++;
    }
    if (chars == stop_chars && cut) *cut = i;
    return chars;
}

/* --- decimals ---------------------------------------------------------------------------- */

static const int DIG2BYTES[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

/* A Decimal's sign, coefficient digits (no leading zeros; "0" for zero) and exponent, read from
 * its plain str() form: 1 when it has none (scientific notation, NaN, Infinity), -1 on error.
 * str() is C code in _decimal; as_tuple() would build a namedtuple in Python. */
static int decimal_parts(PyObject *v, int *negative, unsigned char *digits, int max, int *count,
                         long *exponent) {
    if (Py_TYPE(v) != (PyTypeObject *)DecimalType) return 1;
    PyObject *text = PyObject_Str(v);
    if (!text) return -1;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(text, &n);
    int rc = 1;
    if (!p) {
        rc = -1;
        goto done;
    }
    Py_ssize_t i = 0;
    *negative = 0;
    if (i < n && p[i] == '-') {
        *negative = 1;
        i++;
    }
    int got = 0, point = 0, frac = 0, any = 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c == '.' && !point) {
            point = 1;
            continue;
        }
        if (c < '0' || c > '9') goto done;
        any = 1;
        if (point) frac++;
        if (got == 0 && c == '0') continue; /* leading zero */
        if (got >= max) goto done;
        digits[got++] = (unsigned char)(c - '0');
    }
    if (!any) goto done;
    if (got == 0) digits[got++] = 0;
    *count = got;
    *exponent = -frac;
    rc = 0;
done:
    Py_DECREF(text);
    return rc;
}

/* The digits of a Decimal at scale f (value * 10**f, exact): 1 when that needs rounding or the
 * value has no plain form (the Python encoder then decides), -1 on error. */
static int decimal_digits(PyObject *v, int f, unsigned char *digits, int max, int *count, int *negative) {
    long e;
    int rc = decimal_parts(v, negative, digits, max, count, &e);
    if (rc) return rc;
    long zeros = e + f;
    if (zeros < 0 || *count + zeros > max) return 1;
    int nonzero = 0;
    for (int i = 0; i < *count; i++) nonzero |= digits[i];
    for (long i = 0; i < zeros; i++) digits[*count + i] = 0;
    *count += (int)zeros;
    *negative = *negative && nonzero;
    return 0;
}

/* MyDecimal binary of DECIMAL(p, f) (lightning_core/kv/mydecimal.py); 1: let Python do it */
static int put_decimal_bin(Buf *b, PyObject *v, int p, int f) {
    if (p < 1 || p > 65 || f < 0 || f > 30 || f > p) return 1;
    unsigned char digits[160], all[65], out[40];
    int count, negative;
    int rc = decimal_digits(v, f, digits, (int)sizeof digits, &count, &negative);
    if (rc) return rc;
    /* drop leading zeros beyond the precision; more significant digits are out of range */
    int skip = 0;
    while (count - skip > p && digits[skip] == 0) skip++;
    if (count - skip > p) return 1;
    memset(all, 0, p);
    memcpy(all + p - (count - skip), digits + skip, count - skip);
    int intg = p - f, pos = 0, size = 0;
    int groups[20], ng = 0;
    if (intg % 9) groups[ng++] = intg % 9;
    for (int i = 0; i < intg / 9; i++) groups[ng++] = 9;
    for (int i = 0; i < f / 9; i++) groups[ng++] = 9;
    if (f % 9) groups[ng++] = f % 9;
    for (int g = 0; g < ng; g++) {
        uint32_t value = 0;
        for (int i = 0; i < groups[g]; i++) value = value * 10 + all[pos++];
        int nbytes = DIG2BYTES[groups[g]];
        for (int i = nbytes - 1; i >= 0; i--) out[size + i] = (unsigned char)(value >> (8 * (nbytes - 1 - i)));
        size += nbytes;
    }
    if (negative)
        for (int i = 0; i < size; i++) out[i] = ~out[i];
    out[0] ^= 0x80;
    return buf_put(b, out, size) < 0 ? -1 : 0;
}

/* precision, scale, binary: 1 when Python must do it */
static int put_decimal(Buf *b, PyObject *v, int p, int f) {
    Py_ssize_t start = b->len;
    unsigned char head[2] = {(unsigned char)p, (unsigned char)f};
    if (buf_put(b, head, 2) < 0) return -1;
    int rc = put_decimal_bin(b, v, p, f);
    if (rc) b->len = start;
    return rc;
}

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

/* --- row format v2 ----------------------------------------------------------------------- */

typedef struct {
    Buf data;
    long *ids;      /* not-null ids, then null ids from the end */
    uint32_t *ends; /* end offset of each not-null column's data */
    Py_ssize_t cap, nn, nnull;
    long *null_ids;
} RowBuilder;

static int row_reset(RowBuilder *r, Py_ssize_t columns) {
    r->data.len = 0;
    r->nn = r->nnull = 0;
    if (columns > r->cap) {
        PyMem_Free(r->ids);
        PyMem_Free(r->ends);
        PyMem_Free(r->null_ids);
        r->cap = columns;
        r->ids = PyMem_Malloc(columns * sizeof(long));
        r->null_ids = PyMem_Malloc(columns * sizeof(long));
        r->ends = PyMem_Malloc(columns * sizeof(uint32_t));
        if (!r->ids || !r->ends || !r->null_ids) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static void row_free(RowBuilder *r) {
    PyMem_Free(r->data.p);
    PyMem_Free(r->ids);
    PyMem_Free(r->ends);
    PyMem_Free(r->null_ids);
}

static inline void row_ended(RowBuilder *r, long id) {
    r->ids[r->nn] = id;
    r->ends[r->nn] = (uint32_t)r->data.len;
    r->nn++;
}

static inline void row_null(RowBuilder *r, long id) { r->null_ids[r->nnull++] = id; }

/* append the assembled row value (ids are ascending in each list) */
static int row_assemble(Buf *out, const RowBuilder *r) {
    int large = r->data.len > 0xFFFF || (r->nn && r->ids[r->nn - 1] > 255) ||
                (r->nnull && r->null_ids[r->nnull - 1] > 255);
    unsigned char head[6] = {128, (unsigned char)large, (unsigned char)(r->nn & 0xFF),
                             (unsigned char)(r->nn >> 8), (unsigned char)(r->nnull & 0xFF),
                             (unsigned char)(r->nnull >> 8)};
    int w = large ? 4 : 1, ow = large ? 4 : 2;
    if (buf_reserve(out, 6 + (r->nn + r->nnull) * w + r->nn * ow + r->data.len) < 0) return -1;
    buf_put(out, head, 6);
    unsigned char *o = (unsigned char *)out->p + out->len;
    for (int pass = 0; pass < 2; pass++) {
        const long *ids = pass ? r->null_ids : r->ids;
        Py_ssize_t n = pass ? r->nnull : r->nn;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t id = (uint32_t)ids[i];
            for (int k = 0; k < w; k++) *o++ = (unsigned char)(id >> (8 * k));
        }
    }
    for (Py_ssize_t i = 0; i < r->nn; i++)
        for (int k = 0; k < ow; k++) *o++ = (unsigned char)(r->ends[i] >> (8 * k));
    out->len = (char *)o - out->p;
    return buf_put(out, r->data.p, r->data.len);
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
