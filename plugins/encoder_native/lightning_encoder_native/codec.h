/* Byte-level TiDB codec pieces of the kv-native kernel: buffers, CRC-64/XZ, datum payloads,
 * UTF-8, MyDecimal binary and row format v2 (layouts: lightning_core/kv/{memcomparable,
 * mydecimal,rowcodec}.py). _kernel.c runs the per-table plan with them.
 */
#ifndef LIGHTNING_ENCODER_NATIVE_CODEC_H
#define LIGHTNING_ENCODER_NATIVE_CODEC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* decimal.Decimal, handed over by the first Kernel.__init__ (the same class for every plan) */
extern PyObject *DecimalType;

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

typedef struct {
    Buf data;
    long *ids;      /* ids of the not-null columns, ascending */
    uint32_t *ends; /* end offset of each not-null column's data */
    Py_ssize_t cap, nn, nnull;
    long *null_ids; /* ids of the NULL columns, ascending */
} RowBuilder;

/* room for extra more bytes (0, or -1 with MemoryError) */
int buf_reserve(Buf *b, Py_ssize_t extra);
/* append the bytes a Python callable returns for value */
int buf_call(Buf *b, PyObject *fn, PyObject *value);

/* CRC-64/XZ: crc_init once, then crc_update(0, ...) or continue from a previous result */
void crc_init(void);
extern uint64_t crc_table[8][256];

/* packed DATE/DATETIME/TIMESTAMP of a MysqlTime; -1 with no error set for another shape */
int pack_time(PyObject *v, uint64_t *out);
/* characters of valid UTF-8, or -1; see codec.c */
Py_ssize_t utf8_scan(const unsigned char *s, Py_ssize_t n, int *four, Py_ssize_t stop_chars,
                     Py_ssize_t *cut);

/* a Decimal's sign, coefficient digits and exponent from its plain str(); 1: no plain form */
int decimal_parts(PyObject *v, int *negative, unsigned char *digits, int max, int *count,
                  long *exponent);
/* precision, scale and MyDecimal binary of DECIMAL(p, f); 1: let the Python encoder do it */
int put_decimal(Buf *b, PyObject *v, int p, int f);

/* row format v2: reset for up to `columns` columns, add with row_ended / row_null, then
 * row_assemble appends the value */
int row_reset(RowBuilder *r, Py_ssize_t columns);
void row_free(RowBuilder *r);
int row_assemble(Buf *out, const RowBuilder *r);

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

static inline uint64_t float_bits(double v) {
    uint64_t bits;
    if (v == 0.0) v = 0.0; /* -0.0 encodes like 0.0 */
    memcpy(&bits, &v, 8);
    if (v >= 0) return bits | 0x8000000000000000ULL;
    return ~bits;
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

static inline void row_ended(RowBuilder *r, long id) {
    r->ids[r->nn] = id;
    r->ends[r->nn] = (uint32_t)r->data.len;
    r->nn++;
}

static inline void row_null(RowBuilder *r, long id) { r->null_ids[r->nnull++] = id; }

static inline uint64_t crc_update(uint64_t crc, const unsigned char *p, Py_ssize_t n) {
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

/* memcomparable bytes: groups of 8, each followed by a marker */
static inline int put_memcomparable(Buf *b, const unsigned char *d, Py_ssize_t n) {
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

#endif
