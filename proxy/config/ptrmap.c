/* Address-keyed hash map with linear probing; see ptrmap.h. */
#include "proxy/config/ptrmap.h"

#include <stdlib.h>

static size_t slot_of(const fd_ptrmap_t *map, const void *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (map->capacity - 1);
}

static int grow(fd_ptrmap_t *map)
{
    fd_ptrmap_t bigger = {calloc(map->capacity ? map->capacity * 2 : 64, sizeof(*map->slots)),
                          map->capacity ? map->capacity * 2 : 64, 0};
    if (bigger.slots == NULL)
        return -1;
    for (size_t i = 0; i < map->capacity; i++)
        if (map->slots[i].key != NULL)
            fd_ptrmap_put(&bigger, map->slots[i].key, map->slots[i].value);
    free(map->slots);
    *map = bigger;
    return 0;
}

int fd_ptrmap_put(fd_ptrmap_t *map, const void *key, uint64_t value)
{
    if ((map->size + 1) * 4 > map->capacity * 3 && grow(map) != 0)
        return -1;
    size_t i = slot_of(map, key);
    while (map->slots[i].key != NULL && map->slots[i].key != key)
        i = (i + 1) & (map->capacity - 1);
    if (map->slots[i].key == NULL)
        map->size++;
    map->slots[i].key = key;
    map->slots[i].value = value;
    return 0;
}

int fd_ptrmap_get(const fd_ptrmap_t *map, const void *key, uint64_t *value)
{
    if (map->capacity == 0)
        return 0;
    for (size_t i = slot_of(map, key); map->slots[i].key != NULL; i = (i + 1) & (map->capacity - 1)) {
        if (map->slots[i].key == key) {
            *value = map->slots[i].value;
            return 1;
        }
    }
    return 0;
}

void fd_ptrmap_dispose(fd_ptrmap_t *map)
{
    free(map->slots);
    map->slots = NULL;
    map->capacity = map->size = 0;
}
