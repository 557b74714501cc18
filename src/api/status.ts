/** What the status and readiness routes need; the service's composition root provides it. */
export interface StatusSource {
  status(): Record<string, unknown>;
  ready(): { ready: boolean; reason?: string };
}
