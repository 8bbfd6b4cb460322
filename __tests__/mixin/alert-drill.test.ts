// The alert fire drill's pure parts: the rule and silence objects, the answers' parsing, the
// Alertmanager a Prometheus sends to (on a fake API server), and the summary's table.
import { describe, expect, it } from 'vitest'
import {
  activeAlertmanagers,
  alertsPath,
  DRILL_ALERT,
  drillAlertmanager,
  drillMatchers,
  drillPrometheusRule,
  drillRuleName,
  drillSilence,
  firingInPrometheus,
  heldInAlertmanager,
} from '../../src/mixin/alert-drill.ts'
import { alertDrillTable } from '../../src/report/summary.ts'
import type { Kube, KubeObject } from '../../src/cluster/kube.ts'
import { ApiError } from '../../src/cluster/kube.ts'
import type { PrometheusStack } from '../../src/types.ts'

const drillLabels = { alertname: DRILL_ALERT, drill: 'true', milvus_namespace: 'milvus', milvus_release: 'my-release', severity: 'none' }

describe('the drill rule', () => {
  const rule = drillPrometheusRule('monitoring', 'milvus', 'my-release', { role: 'alert-rules', prometheus: 'k8s' })

  it("is named for the release, labelled for the Prometheus' ruleSelector and the action, in the namespace given", () => {
    expect(rule.metadata).toEqual({
      name: 'milvus-my-release-alert-drill',
      namespace: 'monitoring',
      labels: {
        'app.kubernetes.io/managed-by': 'milvus-monitoring-action',
        'app.kubernetes.io/part-of': 'milvus',
        role: 'alert-rules',
        prometheus: 'k8s',
      },
    })
    expect(drillRuleName('x', 'ns')).toBe('x-alert-drill')
    // In a namespace of its own (the Prometheus'), releases of one name in two namespaces get two rules.
    expect(drillRuleName('x', 'ns-a', 'monitoring')).toBe('ns-a-x-alert-drill')
    expect(drillPrometheusRule('monitoring', 'ns-b', 'x', {}).metadata.name).toBe('ns-b-x-alert-drill')
  })

  it('holds one always-true alert with for 0s, evaluated every second, labelled with the release and as a drill', () => {
    const groups = (rule.spec as { groups: Array<{ name: string; interval: string; rules: Array<Record<string, unknown>> }> }).groups
    expect(groups).toHaveLength(1)
    expect(groups[0]!.name).toBe('milvus-alert-drill-milvus-my-release')
    expect(groups[0]!.interval).toBe('1s')
    expect(groups[0]!.rules).toHaveLength(1)
    expect(groups[0]!.rules[0]).toMatchObject({
      alert: DRILL_ALERT,
      expr: 'vector(1)',
      for: '0s',
      labels: { drill: 'true', milvus_namespace: 'milvus', milvus_release: 'my-release' },
    })
  })
})

describe('the drill silence', () => {
  it('matches exactly the alert of this release, for an hour, created by the action', () => {
    const now = new Date('2026-01-01T00:00:00Z')
    const s = drillSilence('milvus', 'my-release', now)
    expect(s).toMatchObject({
      startsAt: '2026-01-01T00:00:00.000Z',
      endsAt: '2026-01-01T01:00:00.000Z',
      createdBy: 'milvus-monitoring-action',
    })
    expect(s.matchers).toEqual([
      { name: 'alertname', value: DRILL_ALERT, isRegex: false, isEqual: true },
      { name: 'drill', value: 'true', isRegex: false, isEqual: true },
      { name: 'milvus_namespace', value: 'milvus', isRegex: false, isEqual: true },
      { name: 'milvus_release', value: 'my-release', isRegex: false, isEqual: true },
    ])
    expect(drillMatchers('a', 'b').map((m) => m.name)).not.toContain('severity')
  })

  it("asks Alertmanager for the release's drill alerts, silenced ones included", () => {
    const path = alertsPath('milvus', 'my-release')
    expect(path).toMatch(/^\/api\/v2\/alerts\?filter=alertname%3D%22MilvusMonitoringActionDrill%22&/)
    expect(decodeURIComponent(path)).toContain('filter=milvus_release="my-release"')
    expect(path).toMatch(/&silenced=true/)
  })
})

describe('reading the answers', () => {
  const prom = (state: string, labels = drillLabels) => ({ status: 'success', data: { alerts: [{ labels, state }] } })

  it("finds the release's drill alert firing in Prometheus, not pending, not another release's", () => {
    expect(firingInPrometheus(prom('firing'), 'milvus', 'my-release')).toBe(true)
    expect(firingInPrometheus(prom('pending'), 'milvus', 'my-release')).toBe(false)
    expect(firingInPrometheus(prom('firing'), 'milvus', 'other')).toBe(false)
    expect(firingInPrometheus(prom('firing', { ...drillLabels, drill: 'false' }), 'milvus', 'my-release')).toBe(false)
    expect(firingInPrometheus(undefined, 'milvus', 'my-release')).toBe(false)
  })

  it("keeps the release's drill alerts of an Alertmanager answer", () => {
    const mine = { labels: { ...drillLabels, prometheus: 'monitoring/k8s' }, status: { state: 'suppressed', silencedBy: ['s'] } }
    const other = { labels: { ...drillLabels, milvus_release: 'x' }, status: { state: 'active' } }
    expect(heldInAlertmanager([mine, other], 'milvus', 'my-release')).toEqual([mine])
    expect(heldInAlertmanager({ error: 'x' }, 'milvus', 'my-release')).toEqual([])
  })

  it('counts the Alertmanagers a Prometheus sends to, not the dropped ones', () => {
    const url = (ip: string) => ({ url: `http://${ip}:9093/api/v2/alerts` })
    const answer = (active: unknown[], dropped: unknown[] = []) => ({
      status: 'success',
      data: { activeAlertmanagers: active, droppedAlertmanagers: dropped },
    })
    expect(activeAlertmanagers(answer([url('10.0.0.1'), url('10.0.0.2')]))).toBe(2)
    expect(activeAlertmanagers(answer([], [url('10.0.0.3')]))).toBe(0)
    expect(activeAlertmanagers(undefined)).toBe(0)
  })
})

describe('the Alertmanager of the Prometheus', () => {
  const stack = { namespace: 'monitoring', name: 'k8s' } as PrometheusStack
  /** A Kube answering GETs from `objects` by path, 404 for the rest. */
  const kube = (objects: Record<string, KubeObject>) => {
    const get = async (path: string) => {
      const o = objects[path]
      if (!o) throw new ApiError('GET', path, 404, { message: 'not found' })
      return o
    }
    return { get, find: async (path: string) => objects[path] } as unknown as Kube
  }
  const prometheus = (spec: Record<string, unknown>) => ({
    '/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheuses/k8s': { metadata: { name: 'k8s' }, spec },
  })

  it('is the Service of spec.alerting.alertmanagers, its port by name', async () => {
    const am = await drillAlertmanager(
      kube({
        ...prometheus({
          alerting: { alertmanagers: [{ namespace: 'monitoring', name: 'alertmanager-main', port: 'web', apiVersion: 'v2' }] },
        }),
        '/api/v1/namespaces/monitoring/services/alertmanager-main': {
          metadata: { name: 'alertmanager-main' },
          spec: {
            ports: [
              { name: 'web', port: 9093 },
              { name: 'reloader-web', port: 8080 },
            ],
          },
        },
      }),
      stack,
    )
    expect(am).toEqual({ namespace: 'monitoring', name: 'alertmanager-main', port: 'web', pathPrefix: '' })
  })

  it('fails naming the Prometheus when it has no Alertmanager', async () => {
    await expect(drillAlertmanager(kube(prometheus({})), stack)).rejects.toThrow(
      /Prometheus monitoring\/k8s has no Alertmanager \(spec.alerting.alertmanagers is empty\).*alert-drill: false/,
    )
  })

  it('fails naming the Service when the one named does not exist', async () => {
    await expect(
      drillAlertmanager(kube(prometheus({ alerting: { alertmanagers: [{ namespace: 'mon', name: 'am', port: 'web' }] } })), stack),
    ).rejects.toThrow(/sends its alerts to Service mon\/am .*which does not exist/)
  })
})

describe('the summary', () => {
  it('gives the times to firing and to Alertmanager, and the silence', () => {
    const html = alertDrillTable({
      alert: DRILL_ALERT,
      prometheusRule: 'milvus/my-release-alert-drill',
      alertmanager: 'monitoring/alertmanager-main:web',
      silenceId: 'abc',
      firingMs: 2160,
      alertmanagerMs: 2700,
      state: 'suppressed',
      silencedBy: ['abc'],
    })
    expect(html).toMatch(/reached Alertmanager in 2.7 s/)
    expect(html).toMatch(/Firing in Prometheus.*<\/td><td>2.2 s/s)
    expect(html).toMatch(/suppressed<\/td><td>2.7 s/)
    expect(html).toContain('<code>abc</code>')
  })
})
