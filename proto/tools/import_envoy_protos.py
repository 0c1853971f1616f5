#!/usr/bin/python3
"""Regenerates proto/ from Envoy's real .proto files.

frontdesk declares Envoy's v3 API with Envoy's exact packages, messages,
fields, numbers and enums, so what a control plane encodes is what we decode.
This script takes the transitive closure of the root files below from a copy
of Envoy's API (the npm package @grpc/grpc-js-xds ships one under deps/),
drops comments, validation rules and annotation options (frontdesk checks
meaning in its translator), and writes plain proto3 files under proto/.

usage: proto/tools/import_envoy_protos.py DEPS_DIR
  DEPS_DIR  node_modules/@grpc/grpc-js-xds/deps (holds envoy-api/, xds/, ...)
"""
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2 as pb

ROOTS = [
    "envoy/config/bootstrap/v3/bootstrap.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/extensions/filters/http/router/v3/router.proto",
    "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
    "envoy/extensions/access_loggers/file/v3/file.proto",
    "envoy/extensions/access_loggers/stream/v3/stream.proto",
    "envoy/extensions/transport_sockets/tls/v3/tls.proto",
    "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
    "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
    "envoy/service/discovery/v3/ads.proto",
    "envoy/service/cluster/v3/cds.proto",
    "envoy/service/endpoint/v3/eds.proto",
    "envoy/service/listener/v3/lds.proto",
    "envoy/service/route/v3/rds.proto",
    "xds/type/v3/typed_struct.proto",
    "udpa/type/v1/typed_struct.proto",
]

# Files that only declare options (validation rules, API status annotations).
DROPPED_PREFIXES = ("validate/", "udpa/annotations/", "xds/annotations/",
                    "envoy/annotations/", "google/api/",
                    "google/protobuf/descriptor.proto")

SCALAR = {
    pb.FieldDescriptorProto.TYPE_DOUBLE: "double",
    pb.FieldDescriptorProto.TYPE_FLOAT: "float",
    pb.FieldDescriptorProto.TYPE_INT64: "int64",
    pb.FieldDescriptorProto.TYPE_UINT64: "uint64",
    pb.FieldDescriptorProto.TYPE_INT32: "int32",
    pb.FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    pb.FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    pb.FieldDescriptorProto.TYPE_BOOL: "bool",
    pb.FieldDescriptorProto.TYPE_STRING: "string",
    pb.FieldDescriptorProto.TYPE_BYTES: "bytes",
    pb.FieldDescriptorProto.TYPE_UINT32: "uint32",
    pb.FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    pb.FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    pb.FieldDescriptorProto.TYPE_SINT32: "sint32",
    pb.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


def dropped(name):
    return name.startswith(DROPPED_PREFIXES)


def default_json_name(name):
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def field_type(f, maps):
    if f.type in (f.TYPE_MESSAGE, f.TYPE_ENUM):
        return f.type_name  # fully qualified, leading dot
    return SCALAR[f.type]


def field_options(f):
    opts = []
    if f.options.deprecated:
        opts.append("deprecated = true")
    if f.json_name and f.json_name != default_json_name(f.name):
        opts.append('json_name = "%s"' % f.json_name)
    return " [%s]" % ", ".join(opts) if opts else ""


# protoc-c puts every message's header in a member named 'base'; a field of that name is
# declared as 'base_' (same number, so the wire format is unchanged) and the YAML loader
# matches a trailing-underscore name without its underscore.
C_RESERVED = {"base"}


def field_name(f):
    return f.name + "_" if f.name in C_RESERVED else f.name


def emit_field(out, ind, f, maps):
    if f.label == f.LABEL_REPEATED and f.type_name in maps:
        k, v = maps[f.type_name]
        out.append("%smap<%s, %s> %s = %d%s;" % (ind, field_type(k, maps), field_type(v, maps),
                                                field_name(f), f.number, field_options(f)))
        return
    label = ""
    if f.label == f.LABEL_REPEATED:
        label = "repeated "
    elif f.proto3_optional:
        label = "optional "
    out.append("%s%s%s %s = %d%s;" % (ind, label, field_type(f, maps), field_name(f), f.number,
                                     field_options(f)))


def emit_enum(out, ind, e):
    out.append("%senum %s {" % (ind, e.name))
    if e.options.allow_alias:
        out.append("%s  option allow_alias = true;" % ind)
    for v in e.value:
        opt = " [deprecated = true]" if v.options.deprecated else ""
        out.append("%s  %s = %d%s;" % (ind, v.name, v.number, opt))
    for r in e.reserved_range:
        out.append("%s  reserved %s;" % (ind, rng(r.start, r.end, inclusive=True)))
    if e.reserved_name:
        out.append("%s  reserved %s;" % (ind, ", ".join('"%s"' % n for n in e.reserved_name)))
    out.append("%s}" % ind)


def rng(start, end, inclusive=False):
    last = end if inclusive else end - 1
    if last >= 536870911:
        return "%d to max" % start
    return str(start) if start == last else "%d to %d" % (start, last)


def emit_message(out, ind, m, prefix, maps):
    full = prefix + "." + m.name
    out.append("%smessage %s {" % (ind, m.name))
    sub = ind + "  "
    for n in m.nested_type:
        if n.options.map_entry:
            continue
        emit_message(out, sub, n, full, maps)
    for e in m.enum_type:
        emit_enum(out, sub, e)
    real_oneofs = {}
    for f in m.field:
        if f.HasField("oneof_index") and not f.proto3_optional:
            real_oneofs.setdefault(f.oneof_index, []).append(f)
    done = set()
    for f in m.field:
        if f.HasField("oneof_index") and not f.proto3_optional:
            if f.oneof_index in done:
                continue
            done.add(f.oneof_index)
            out.append("%soneof %s {" % (sub, m.oneof_decl[f.oneof_index].name))
            for of in real_oneofs[f.oneof_index]:
                emit_field(out, sub + "  ", of, maps)
            out.append("%s}" % sub)
        else:
            emit_field(out, sub, f, maps)
    for r in m.reserved_range:
        out.append("%sreserved %s;" % (sub, rng(r.start, r.end)))
    if m.reserved_name:
        out.append("%sreserved %s;" % (sub, ", ".join('"%s"' % n for n in m.reserved_name)))
    out.append("%s}" % ind)


def collect_maps(prefix, msgs, maps):
    for m in msgs:
        full = prefix + "." + m.name
        if m.options.map_entry:
            maps[full] = (m.field[0], m.field[1])
        collect_maps(full, m.nested_type, maps)


def emit_file(fd, maps):
    out = ['// Generated by proto/tools/import_envoy_protos.py from Envoy\'s API; do not edit.',
           'syntax = "proto3";', "", "package %s;" % fd.package, ""]
    for dep in fd.dependency:
        if not dropped(dep):
            out.append('import "%s";' % dep)
    out.append("")
    for e in fd.enum_type:
        emit_enum(out, "", e)
    for m in fd.message_type:
        emit_message(out, "", m, "." + fd.package, maps)
    for s in fd.service:
        out.append("service %s {" % s.name)
        for meth in s.method:
            out.append("  rpc %s(%s%s) returns (%s%s);" % (
                meth.name, "stream " if meth.client_streaming else "", meth.input_type,
                "stream " if meth.server_streaming else "", meth.output_type))
        out.append("}")
    return "\n".join(out) + "\n"


def main():
    deps, outdir = sys.argv[1], os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    inc = [os.path.join(deps, d) for d in ("envoy-api", "xds", "googleapis", "protoc-gen-validate")]
    with tempfile.TemporaryDirectory() as tmp:
        # Envoy's API may use validation rules newer than the bundled PGV: the rules are dropped
        # anyway, so teach a private copy of validate.proto the fields it lacks.
        vdir = os.path.join(tmp, "validate")
        os.makedirs(vdir)
        src = open(os.path.join(deps, "protoc-gen-validate/validate/validate.proto")).read()
        if "ignore_empty" not in src.split("message StringRules")[1].split("\n}")[0]:
            src = src.replace("message StringRules {", "message StringRules {\n  optional bool ignore_empty = 26;", 1)
        open(os.path.join(vdir, "validate.proto"), "w").write(src)
        out = os.path.join(tmp, "set.pb")
        roots = [r for r in ROOTS]
        subprocess.check_call(["protoc", "-I" + tmp] + ["-I" + i for i in inc] +
                              ["-I/usr/include", "--include_imports", "--descriptor_set_out=" + out] + roots)
        fds = pb.FileDescriptorSet()
        fds.ParseFromString(open(out, "rb").read())
    maps = {}
    for fd in fds.file:
        collect_maps("." + fd.package, fd.message_type, maps)
    written = []
    for fd in fds.file:
        if dropped(fd.name):
            continue
        path = os.path.join(outdir, fd.name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(emit_file(fd, maps))
        written.append(fd.name)
    print("wrote %d files under %s" % (len(written), os.path.normpath(outdir)))


if __name__ == "__main__":
    main()
