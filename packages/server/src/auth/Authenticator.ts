/**
 * Access control: who may stream data (`worker`), watch (`monitor`), or also create and cancel
 * tasks and register data (`admin`). Bearer tokens come from a tokens file or are signed JWTs;
 * without either, a generated admin token guards the service instead of leaving it open.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errors as joseErrors, importSPKI, jwtVerify, type CryptoKey, type JWTVerifyOptions } from 'jose';
import { z } from 'zod';
import { CloseCode, ErrorCode, type ProtocolError } from '@ess/protocol';

export const AccessRole = { worker: 'worker', monitor: 'monitor', admin: 'admin' } as const;
export type AccessRole = (typeof AccessRole)[keyof typeof AccessRole];

/** What a request needs: stream data, watch (dashboards, reads of the API, metrics), or manage. */
export const Permission = { stream: 'stream', watch: 'watch', manage: 'manage' } as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

const GRANTS: Record<AccessRole, ReadonlySet<Permission>> = {
  worker: new Set([Permission.stream]),
  monitor: new Set([Permission.watch]),
  admin: new Set([Permission.stream, Permission.watch, Permission.manage]),
};

export interface Principal {
  readonly name: string;
  readonly role: AccessRole;
  /** When the credential stops being valid (ms since the epoch), or null. */
  readonly expiresAt: number | null;
}

export type AuthResult = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly error: ProtocolError & { readonly status: 401 | 403 } };

export const StaticTokenSchema = z.object({
  token: z.string().min(16, 'tokens must have at least 16 characters'),
  role: z.enum([AccessRole.worker, AccessRole.monitor, AccessRole.admin]),
  name: z.string().min(1).max(128),
});
export const TokensFileSchema = z.array(StaticTokenSchema);
export type StaticToken = z.infer<typeof StaticTokenSchema>;

export interface JwtConfig {
  /** HS256 shared secret. */
  readonly secret?: string | undefined;
  /** PEM public key (SPKI) and its algorithm, e.g. RS256, ES256, EdDSA. */
  readonly publicKeyPem?: string | undefined;
  readonly algorithm?: string | undefined;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
}

export type AuthConfig =
  /** No access control: anyone may do anything. Only for tests and closed development setups. */
  | { readonly mode: 'open' }
  | {
      readonly mode: 'tokens';
      readonly tokens: readonly StaticToken[];
      readonly jwt: JwtConfig | null;
      /** Serve /metrics without a token (Prometheus on a trusted network). */
      readonly openMetrics?: boolean;
    };

export class Authenticator {
  private constructor(
    private readonly open: boolean,
    private readonly byHash: ReadonlyMap<string, StaticToken>,
    private readonly jwtKey: CryptoKey | Uint8Array | null,
    private readonly jwtOptions: JWTVerifyOptions,
    readonly openMetrics: boolean,
  ) {}

  static async create(config: AuthConfig): Promise<Authenticator> {
    if (config.mode === 'open') return new Authenticator(true, new Map(), null, {}, true);
    const byHash = new Map(config.tokens.map((t) => [digest(t.token), t] as const));
    let key: CryptoKey | Uint8Array | null = null;
    const options: JWTVerifyOptions = {};
    const jwt = config.jwt;
    if (jwt?.secret) {
      key = new TextEncoder().encode(jwt.secret);
      options.algorithms = ['HS256'];
    } else if (jwt?.publicKeyPem) {
      const alg = jwt.algorithm ?? 'RS256';
      key = await importSPKI(jwt.publicKeyPem, alg);
      options.algorithms = [alg];
    }
    if (jwt?.issuer) options.issuer = jwt.issuer;
    if (jwt?.audience) options.audience = jwt.audience;
    return new Authenticator(false, byHash, key, options, config.openMetrics ?? false);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Checks a bearer token and that its role grants `permission`. */
  async authorize(token: string | undefined, permission: Permission): Promise<AuthResult> {
    if (this.open) return { ok: true, principal: { name: 'anonymous', role: AccessRole.admin, expiresAt: null } };
    if (!token) return denied(401, 'a token is required (hello.token, or an Authorization: Bearer header)');
    const principal = (await this.identify(token)) ?? null;
    if (!principal) return denied(401, 'the token is not valid');
    if ('expired' in principal) return denied(401, 'the token has expired');
    if (!GRANTS[principal.role].has(permission)) {
      return denied(403, `role "${principal.role}" (${principal.name}) may not ${permission === 'stream' ? 'stream data' : permission === 'watch' ? 'watch' : 'manage tasks or data'}`);
    }
    return { ok: true, principal };
  }

  private async identify(token: string): Promise<Principal | { expired: true } | undefined> {
    const known = this.byHash.get(digest(token));
    if (known) return { name: known.name, role: known.role, expiresAt: null };
    if (!this.jwtKey || token.split('.').length !== 3) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.jwtKey, this.jwtOptions);
      const claimed = typeof payload.role === 'string' ? [payload.role] : Array.isArray(payload.roles) ? payload.roles : [];
      // Several roles: the strongest one that ESS knows.
      const role = (['admin', 'worker', 'monitor'] as const).find((r) => claimed.includes(r));
      if (!role) return undefined;
      return { name: payload.sub ?? 'jwt', role, expiresAt: payload.exp ? payload.exp * 1000 : null };
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) return { expired: true };
      return undefined;
    }
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function denied(status: 401 | 403, message: string): AuthResult {
  return status === 401
    ? { ok: false, error: { code: ErrorCode.unauthorized, message, close: CloseCode.unauthorized, status } }
    : { ok: false, error: { code: ErrorCode.forbidden, message, close: CloseCode.forbidden, status } };
}

/** Reads and validates a tokens file: a JSON array of `{ token, role, name }`. */
export async function readTokensFile(path: string): Promise<StaticToken[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read tokens file ${path}: ${(e as Error).message}`);
  }
  const r = TokensFileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`tokens file ${path}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

/**
 * The development default: an admin token kept at `path` (created with mode 0600 on first use,
 * reused afterwards so workers and dashboards keep working across restarts). With `shared` (a
 * cluster), the token comes from there, so every node accepts the same one.
 */
export async function generatedAdminToken(path: string, shared?: (candidate: string) => Promise<string>): Promise<{ token: string; created: boolean }> {
  if (!shared) {
    try {
      const token = (await readFile(path, 'utf8')).trim();
      if (token.length >= 16) return { token, created: false };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  // Without a shared store a new token is made; with one (a cluster), the first node's wins.
  const candidate = randomBytes(24).toString('base64url');
  const token = shared ? await shared(candidate) : candidate;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, token + '\n', { mode: 0o600 });
  await chmod(path, 0o600);
  return { token, created: token === candidate };
}

/** The token of an HTTP request: `Authorization: Bearer <token>`. */
export function bearerToken(headers: Readonly<Record<string, string>>): string | undefined {
  const h = headers['authorization'];
  const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m?.[1];
}
