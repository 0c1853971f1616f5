#!/usr/bin/env bash
# Writes the seed corpus of xds_resource_fuzz: binary envoy.service.discovery.v3.
# DiscoveryResponse encodings made by `protoc --encode` from the text-format responses
# below (Anys in their expanded "[type.googleapis.com/...] { ... }" form) against the
# .proto files under proto/. The outputs are committed; rerun this after changing it:
#   tests/fuzz/make_xds_seeds.sh
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
out=tests/fuzz/corpus/xds_resource
mkdir -p "$out"
protos=(envoy/service/discovery/v3/discovery.proto envoy/config/cluster/v3/cluster.proto
    envoy/config/listener/v3/listener.proto envoy/config/route/v3/route.proto
    envoy/config/endpoint/v3/endpoint.proto envoy/extensions/transport_sockets/tls/v3/secret.proto
    envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto
    envoy/extensions/filters/http/router/v3/router.proto google/protobuf/struct.proto
    google/protobuf/wrappers.proto)

# encode NAME: reads a text-format DiscoveryResponse on stdin, writes $out/NAME.bin.
encode() {
    protoc --proto_path=proto --encode=envoy.service.discovery.v3.DiscoveryResponse "${protos[@]}" \
        >"$out/$1.bin"
}

encode cds_static_and_eds <<'EOF'
version_info: "1"
type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster"
nonce: "a1"
control_plane { identifier: "cp-0" }
resources {
  [type.googleapis.com/envoy.config.cluster.v3.Cluster] {
    name: "static"
    type: STATIC
    connect_timeout { nanos: 250000000 }
    load_assignment {
      cluster_name: "static"
      endpoints { lb_endpoints { endpoint { address { socket_address { address: "127.0.0.1" port_value: 8080 } } } } }
    }
  }
}
resources {
  [type.googleapis.com/envoy.config.cluster.v3.Cluster] {
    name: "eds"
    type: EDS
    eds_cluster_config { eds_config { ads {} resource_api_version: V3 } }
    lb_policy: LEAST_REQUEST
    circuit_breakers { thresholds { max_connections { value: 100 } } }
  }
}
EOF

encode lds_hcm <<'EOF'
version_info: "7"
type_url: "type.googleapis.com/envoy.config.listener.v3.Listener"
nonce: "b2"
resources {
  [type.googleapis.com/envoy.config.listener.v3.Listener] {
    name: "http"
    address { socket_address { address: "0.0.0.0" port_value: 10000 } }
    filter_chains {
      filters {
        name: "envoy.filters.network.http_connection_manager"
        typed_config {
          [type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager] {
            stat_prefix: "http"
            rds { route_config_name: "main" config_source { ads {} resource_api_version: V3 } }
            http_filters {
              name: "envoy.filters.http.router"
              typed_config { [type.googleapis.com/envoy.extensions.filters.http.router.v3.Router] {} }
            }
          }
        }
      }
    }
  }
}
EOF

encode rds_routes <<'EOF'
version_info: "3"
type_url: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
nonce: "c3"
resources {
  [type.googleapis.com/envoy.config.route.v3.RouteConfiguration] {
    name: "main"
    virtual_hosts {
      name: "vh"
      domains: "*"
      routes { match { prefix: "/api" } route { cluster: "api" timeout { seconds: 5 } } }
      routes { match { path: "/health" } direct_response { status: 200 } }
      routes { match { safe_regex { regex: "^/v[0-9]+/" } } redirect { path_redirect: "/" } }
    }
  }
}
EOF

encode eds_and_unknown_types <<'EOF'
version_info: "9"
type_url: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
nonce: "d4"
canary: true
resources {
  [type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment] {
    cluster_name: "eds"
    endpoints {
      locality { region: "r" zone: "z" }
      lb_endpoints { endpoint { address { socket_address { address: "10.0.0.1" port_value: 80 } } } load_balancing_weight { value: 3 } }
      lb_endpoints { endpoint { address { socket_address { address: "10.0.0.2" port_value: 80 } } } health_status: DRAINING }
      priority: 1
    }
  }
}
resources { type_url: "type.googleapis.com/acme.Unknown" value: "\001\002\003" }
resources { type_url: "no-slash" value: "" }
resources { type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster" value: "\377\377\377" }
resources {
  [type.googleapis.com/google.protobuf.Struct] {
    fields { key: "k" value { list_value { values { number_value: 1 } values { string_value: "s" } } } }
  }
}
EOF

encode sds_secret <<'EOF'
version_info: "2"
type_url: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
resources {
  [type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret] {
    name: "server_cert"
    tls_certificate {
      certificate_chain { filename: "/etc/certs/cert.pem" }
      private_key { inline_bytes: "-----BEGIN PRIVATE KEY-----\n" }
    }
  }
}
EOF

printf '' >"$out/empty.bin"
