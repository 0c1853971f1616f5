/* An open-addressing hash map from an address to a 64-bit value. The config loader
 * uses it to remember where in the YAML each message and field came from, and which
 * decoded message stands behind each Any, without touching the protobuf structs. */
#ifndef FD_PTRMAP_H
#define FD_PTRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fd_ptrmap {
    struct fd_ptrmap_slot {
        const void *key;
        uint64_t value;
    } * slots;
    size_t capacity; /* power of two, or 0 */
    size_t size;
} fd_ptrmap_t;

/* Inserts or replaces. Returns 0, or -1 when out of memory. */
int fd_ptrmap_put(fd_ptrmap_t *map, const void *key, uint64_t value);

/* Returns 1 and sets *value when key is present, else 0. */
int fd_ptrmap_get(const fd_ptrmap_t *map, const void *key, uint64_t *value);

void fd_ptrmap_dispose(fd_ptrmap_t *map);

#endif
