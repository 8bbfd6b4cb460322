// The one place that says how long images take to pull on a GitHub-hosted runner: compressed
// sizes (linux/amd64, MB = 10^6 bytes, the sum of the layers a registry reports) of the images
// kube-prometheus v0.18.0 and the Milvus chart 5.0.19 run, and the runner's pull throughput.
// Tags change with the versions; a size is per repository and tag. No registry is reachable
// from this project's machine, so none is measured for its exact tag: each row names its basis.
// `crane manifest --platform linux/amd64 <image> | jq '[.layers[].size] | add'` gives the exact
// figure; change it here.

export interface ImageSize {
  /** Compressed size, MB. */
  mb: number
  /** Where the figure comes from: N = a published size of a neighbouring tag, P = a proxy (the release archive of the same binaries), E = an estimate. */
  basis: string
}

export const IMAGE_SIZES: Record<string, ImageSize> = {
  // kube-prometheus v0.18.0 (manifests/, plus the config reloader the operator injects).
  'quay.io/prometheus/prometheus:v3.12.0': {
    mb: 130,
    basis:
      'P: prometheus-3.8.1.linux-amd64.tar.gz is 127.7 MiB (prometheus.io/download), the same binaries; N: a Docker Hub mirror of v3.16.0 shows 110.7 MB',
  },
  'quay.io/prometheus/alertmanager:v0.33.0': { mb: 40, basis: 'N: Docker Hub mirrors of 0.34.0 and latest show 41.5 and 37.8 MB' },
  'quay.io/prometheus-operator/prometheus-operator:v0.92.0': { mb: 20, basis: 'N: mirrors of v0.90.1, v0.93.0, v0.94.0 show 19.1-21.5 MB' },
  'quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0': { mb: 14, basis: 'N: mirrors of v0.79.0-v0.94.2 show 13.6-14.3 MB' },
  'quay.io/prometheus/node-exporter:v1.11.1': {
    mb: 12.5,
    basis: 'N+E: mirrors of v1.7.0 and v1.8.1 show 11.2 and 11.5 MB, with growth allowed',
  },
  'quay.io/prometheus/blackbox-exporter:v0.28.0': { mb: 13, basis: 'N+E: a mirror of v0.24.0 shows 11.8 MB' },
  'ghcr.io/jimmidyson/configmap-reload:v0.15.0': { mb: 7, basis: 'N+E: mirrors of v0.8.0 and v0.9.0 show 4.1 and 5.9 MB' },
  'quay.io/brancz/kube-rbac-proxy:v0.22.0': { mb: 28, basis: 'N+E: mirrors of v0.15.0 and v0.19.0 show 24.0 and 31.2 MB' },
  'grafana/grafana:13.0.2': {
    mb: 250,
    basis:
      'E: grafana 11.6.0 amd64 is 168.5 MB (grafana/grafana-image-tags); 13.x layers are much larger uncompressed (grafana/grafana#132716). The least certain row',
  },
  'registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.19.0': { mb: 18.5, basis: 'N: a mirror of v2.17.0 shows 17.9 MB' },
  'registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0': { mb: 34, basis: 'N: mirrors of v0.11.0 and v0.11.1 show 33.1 MB' },
  // The Milvus chart 5.0.19 (standalone: milvus, etcd, minio; cluster mode adds pulsar).
  'milvusdb/milvus:v2.6.15': {
    mb: 650,
    basis:
      'E: v2.5.10 is 1.72 GB uncompressed (a public docker images log); Ubuntu plus Go/C++ binaries compress to about 0.33-0.45 of that',
  },
  'docker.io/milvusdb/etcd:3.5.25-r1': { mb: 60, basis: 'E: a minideb image with the etcd binaries' },
  'minio/minio:RELEASE.2024-12-18T13-15-44Z': {
    mb: 60,
    basis: 'E: ubi-micro with the minio (35.8 MiB compressed in Alpine) and mc binaries',
  },
  'apachepulsar/pulsar:3.0.7': {
    mb: 550,
    basis: 'E: 3.0.7 is about 943 MB uncompressed (apache/pulsar#23335), a JDK and jars that barely compress',
  },
}

/** An image not in the table: a middling size, so it still costs a pull. */
export const UNKNOWN_IMAGE_MB = 50

/**
 * Compressed MB per second a runner pulls at, and the fixed cost of each pull (token, manifest
 * and config round-trips), in seconds. The only direct measurement found: a 3 GB image pulled
 * from ghcr.io on ubuntu-latest in 93-134 s, i.e. 22-32 MB/s (ivan-pinatti-labs/
 * docker-torrent-box-with-vpn#43); the runner's link (about 1 Gbit/s) is not what limits it,
 * decompression and the disk are. Small images from other registries may differ by 2x.
 */
export const PULL_MB_PER_S = 30
export const PULL_OVERHEAD_S = 1

/** Seconds a runner takes to pull `image` (never pulled before on the node). */
export function pullSeconds(image: string, mbPerS = PULL_MB_PER_S): number {
  const mb =
    IMAGE_SIZES[image]?.mb ??
    IMAGE_SIZES[`docker.io/${image}`]?.mb ??
    IMAGE_SIZES[image.replace(/^docker\.io\/(library\/)?/, '')]?.mb ??
    UNKNOWN_IMAGE_MB
  return PULL_OVERHEAD_S + mb / mbPerS
}
