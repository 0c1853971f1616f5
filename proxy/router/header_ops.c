/* Header mutations; see header_ops.h. */
#include "proxy/router/header_ops.h"

static void remove_all(h2o_headers_t *headers, const fd_string_t *name)
{
    ssize_t cursor;
    while ((cursor = h2o_find_header_by_str(headers, name->base, name->len, -1)) != -1)
        h2o_delete_header(headers, cursor);
}

static void add_one(h2o_mem_pool_t *pool, h2o_headers_t *headers, const fd_header_op_t *op)
{
    if (op->value.len == 0 && !op->keep_empty_value)
        return;
    int exists = h2o_find_header_by_str(headers, op->name.base, op->name.len, -1) != -1;
    switch (op->append) {
    case FD_HEADER_APPEND_IF_EXISTS_OR_ADD:
        h2o_add_header_by_str(pool, headers, op->name.base, op->name.len, 1, NULL, op->value.base, op->value.len);
        break;
    case FD_HEADER_ADD_IF_ABSENT:
        if (!exists)
            h2o_add_header_by_str(pool, headers, op->name.base, op->name.len, 1, NULL, op->value.base, op->value.len);
        break;
    case FD_HEADER_OVERWRITE_IF_EXISTS_OR_ADD:
        remove_all(headers, &op->name);
        h2o_add_header_by_str(pool, headers, op->name.base, op->name.len, 1, NULL, op->value.base, op->value.len);
        break;
    case FD_HEADER_OVERWRITE_IF_EXISTS:
        if (exists) {
            remove_all(headers, &op->name);
            h2o_add_header_by_str(pool, headers, op->name.base, op->name.len, 1, NULL, op->value.base, op->value.len);
        }
        break;
    }
}

void fd_header_ops_apply(h2o_mem_pool_t *pool, h2o_headers_t *headers, const fd_header_ops_t *ops)
{
    for (size_t i = 0; i < ops->n_remove; i++)
        remove_all(headers, &ops->remove[i]);
    for (size_t i = 0; i < ops->n_add; i++)
        add_one(pool, headers, &ops->add[i]);
}
