// The one place that chooses the Prometheus source from the inputs.
import type { Inputs } from '../types.ts'
import { ExistingPrometheus } from './existing.ts'
import { KubePrometheus } from './kube-prometheus.ts'
import type { PrometheusSource } from './source.ts'

export type { PrometheusSource } from './source.ts'

export function prometheusSource(inputs: Inputs): PrometheusSource {
  return inputs.installKubePrometheus ? new KubePrometheus(inputs) : new ExistingPrometheus(inputs)
}
