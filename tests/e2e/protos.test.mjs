// Checks proto/ against Envoy's real .proto files (shipped in @grpc/grpc-js-xds): every
// message and enum frontdesk declares must have Envoy's package, names, field numbers,
// types, labels and oneofs, so that what a control plane encodes is what we decode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const ours = join(repo, 'proto');
const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const envoyIncludes = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d));

function protoFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'tools' ? [] : protoFiles(path);
    return name.endsWith('.proto') ? [relative(ours, path)] : [];
  });
}

function load(files, includes) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const dir of includes) {
      const candidate = join(dir, target);
      try {
        statSync(candidate);
        return candidate;
      } catch {}
    }
    return target;
  };
  root.loadSync(files, { keepCase: true, alternateCommentMode: false });
  root.resolveAll();
  return root;
}

function collect(ns, out = new Map()) {
  for (const nested of ns.nestedArray || []) {
    if (nested instanceof protobuf.Type || nested instanceof protobuf.Enum) out.set(nested.fullName, nested);
    if (nested.nestedArray) collect(nested, out);
  }
  return out;
}

function describeField(field) {
  const type = field.resolvedType ? field.resolvedType.fullName : field.type;
  return {
    id: field.id,
    type,
    repeated: field.repeated,
    map: field.map ? `${field.keyType}->${type}` : null,
    oneof: field.partOf && !field.partOf.name.startsWith('_') ? field.partOf.name : null,
  };
}

const ourRoot = load(protoFiles(ours), [ours]);
const envoyRoot = load(protoFiles(ours), envoyIncludes.concat(['/usr/include']));
const ourTypes = collect(ourRoot);
const envoyTypes = collect(envoyRoot);

test('proto/ declares a few hundred of Envoy\'s messages', () => {
  assert.ok(ourTypes.size > 300, `only ${ourTypes.size} types declared`);
});

test('every declared message and enum matches Envoy\'s', () => {
  const problems = [];
  for (const [name, ourType] of ourTypes) {
    const theirs = envoyTypes.get(name);
    if (!theirs) {
      problems.push(`${name}: not in Envoy's protos`);
      continue;
    }
    if (ourType instanceof protobuf.Enum) {
      const a = JSON.stringify({ ...ourType.values }), b = JSON.stringify({ ...theirs.values });
      if (a !== b) problems.push(`${name}: enum values ${a} vs Envoy's ${b}`);
      continue;
    }
    const theirFields = new Map(theirs.fieldsArray.map((f) => [f.name, f]));
    for (const field of ourType.fieldsArray) {
      // protoc-c reserves 'base'; proto/tools/import_envoy_protos.py declares it as 'base_'.
      const envoyName = field.name === 'base_' ? 'base' : field.name;
      const theirField = theirFields.get(envoyName);
      if (!theirField) problems.push(`${name}.${field.name}: not in Envoy's ${name}`);
      else {
        try {
          assert.deepEqual(describeField(field), describeField(theirField));
        } catch {
          problems.push(`${name}.${field.name}: ${JSON.stringify(describeField(field))} vs Envoy's ${JSON.stringify(describeField(theirField))}`);
        }
      }
      theirFields.delete(envoyName);
    }
    for (const missing of theirFields.keys()) problems.push(`${name}.${missing}: declared by Envoy, missing here`);
  }
  assert.deepEqual(problems, []);
});
