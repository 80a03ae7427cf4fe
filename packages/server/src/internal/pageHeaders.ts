/**
 * The headers of every page and page asset the server sends (the run viewer, the API docs).
 */

/**
 * A page's security headers under `contentSecurityPolicy`: no MIME sniffing, no referrer sent
 * to other sites, revalidated on each load.
 */
export const pageHeaders = (contentSecurityPolicy: string): Record<string, string> => ({
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
})
