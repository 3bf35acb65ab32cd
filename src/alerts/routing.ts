import type { AlertsConfig, RoutedAlertKind } from './alerts-config.js';
import type { AlertDrill } from './message.js';

/**
 * The channels an alert about `drill` goes to: every route that matches the
 * drill and the alert's kind contributes its channels, in route order, each
 * channel once. Without routes, every channel. An empty list means no route
 * takes the alert: it is still logged (the drill's state is tracked), not sent.
 */
export function routeChannels(
  alerts: Pick<AlertsConfig, 'channels' | 'routes'>,
  drill: AlertDrill,
  kind: RoutedAlertKind,
): string[] {
  if (alerts.routes === undefined) return Object.keys(alerts.channels);
  const chosen: string[] = [];
  for (const route of alerts.routes) {
    if (route.events && !route.events.includes(kind)) continue;
    if (!matches(route.match, drill)) continue;
    for (const channel of route.channels) if (!chosen.includes(channel)) chosen.push(channel);
  }
  return chosen;
}

function matches(
  match: NonNullable<AlertsConfig['routes']>[number]['match'],
  drill: AlertDrill,
): boolean {
  if (!match) return true;
  if (match.drills && !match.drills.includes(drill.name)) return false;
  if (match.tags && !match.tags.some((tag) => drill.tags.includes(tag))) return false;
  if (match.owners && (drill.owner === undefined || !match.owners.includes(drill.owner)))
    return false;
  return true;
}
