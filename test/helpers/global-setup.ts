/** Vitest global setup: services shared by every test file are started here. */
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
