#!/usr/bin/env node
// Development entry: rebuilds nothing, runs the compiled tree with development settings (stack traces).
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
