"""fd_unit_test: a cmocka test built from <name>.c, run by `bazel test //tests/unit/...`."""

def fd_unit_test(name, deps, data = [], srcs = []):
    native.cc_test(
        name = name,
        srcs = [name + ".c"] + srcs,
        deps = deps,
        data = data,
        linkopts = ["-lcmocka"],
        size = "small",
    )
