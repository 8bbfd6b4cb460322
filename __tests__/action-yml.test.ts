// action.yml is the contract users see: its runtime and entry points must match the build
// layout, and its inputs, defaults and outputs must match what the code reads and sets.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { INPUT_DEFAULTS } from '../src/inputs.ts'
import { OUTPUT_NAMES } from '../src/report/outputs.ts'

interface ActionInput {
  description?: unknown
  required?: unknown
  default?: unknown
}

interface ActionMetadata {
  name?: unknown
  description?: unknown
  author?: unknown
  branding?: { icon?: unknown; color?: unknown }
  inputs?: Record<string, ActionInput>
  outputs?: Record<string, { description?: unknown }>
  runs?: Record<string, unknown>
}

const actionYml = fileURLToPath(new URL('../action.yml', import.meta.url))
const action = parse(readFileSync(actionYml, 'utf8')) as ActionMetadata
const inputs = action.inputs ?? {}
const outputs = action.outputs ?? {}
const defaults: Record<string, string> = INPUT_DEFAULTS

const nonEmpty = (value: unknown): boolean => typeof value === 'string' && value.trim() !== ''

describe('action.yml', () => {
  it('has a name, description, author and branding', () => {
    expect(nonEmpty(action.name)).toBe(true)
    expect(nonEmpty(action.description)).toBe(true)
    expect(nonEmpty(action.author)).toBe(true)
    expect(nonEmpty(action.branding?.icon)).toBe(true)
    expect(nonEmpty(action.branding?.color)).toBe(true)
  })

  it('runs on node24 from the ncc build layout, with a post step that always runs', () => {
    // Paths only: dist/ is produced later by `npm run build`.
    expect(action.runs).toEqual({
      using: 'node24',
      main: 'dist/main/index.js',
      post: 'dist/post/index.js',
      'post-if': 'always()',
    })
  })

  it('declares every input the code reads, and no other', () => {
    expect(Object.keys(inputs).sort()).toEqual(Object.keys(defaults).sort())
  })

  it.each(Object.keys(inputs))('input %s: optional, default as INPUT_DEFAULTS, described', (name) => {
    const input = inputs[name]
    // A default must be a string: YAML `true` or `15` would reach the action as the same text,
    // but comparing strings keeps action.yml honest about what the code sees.
    expect(typeof input?.default).toBe('string')
    expect(input?.default).toBe(defaults[name])
    expect(input?.required).toBe(false)
    expect(nonEmpty(input?.description)).toBe(true)
  })

  it('declares every output the code sets, and no other', () => {
    expect(Object.keys(outputs).sort()).toEqual([...OUTPUT_NAMES].sort())
  })

  it('gives no output the name of an input of another meaning', () => {
    // The same meaning: the version asked for, and the exact version that answered it (as
    // actions/setup-node's node-version).
    const sameMeaning = ['kubectl-version', 'helm-version', 'service-monitor']
    expect(Object.keys(outputs).filter((name) => name in inputs && !sameMeaning.includes(name))).toEqual([])
  })

  it.each(Object.keys(outputs))('output %s is described', (name) => {
    expect(nonEmpty(outputs[name]?.description)).toBe(true)
  })

  it('gives every URL output an in-cluster variant', () => {
    for (const name of ['prometheus-url', 'grafana-url', 'alertmanager-url', 'milvus-endpoint', 'milvus-metrics-url']) {
      expect(outputs).toHaveProperty(name)
      expect(outputs).toHaveProperty(`${name}-in-cluster`)
    }
  })
})
