// The one place that chooses the Milvus source from the inputs.
import type { Inputs } from '../types.ts'
import { ExistingRelease } from './existing-release.ts'
import { HelmRelease } from './helm-release.ts'
import type { MilvusSource } from './source.ts'

export type { MilvusSource } from './source.ts'

export function milvusSource(inputs: Inputs): MilvusSource {
  return inputs.installMilvus ? new HelmRelease(inputs) : new ExistingRelease(inputs)
}
