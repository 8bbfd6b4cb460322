import { describe, expect, it } from 'vitest'
import { ApiError } from '../../src/cluster/kube.ts'
import { askAgain } from '../../src/prometheus/api.ts'

describe('askAgain', () => {
  it('asks again while the Prometheus is not there yet or does not answer', () => {
    const path = '/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy/api/v1/rules'
    expect(askAgain(new ApiError('GET', path, 503, 'no endpoints available'))).toBeUndefined()
    expect(askAgain(new ApiError('GET', path, 404, 'services "prometheus-k8s" not found'))).toBeUndefined()
    expect(askAgain(new Error('socket hang up'))).toBeUndefined()
  })

  it('rethrows a refusal of the identity, which no wait outlives', () => {
    const refused = new ApiError('GET', '/api/v1/namespaces/monitoring/services/am:web/proxy/api/v2/alerts', 403, 'forbidden')
    expect(() => askAgain(refused)).toThrow(refused)
    expect(() => askAgain(new ApiError('GET', '/x', 401, 'Unauthorized'))).toThrow(/HTTP 401/)
  })
})
