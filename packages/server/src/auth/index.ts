/** Access control: roles, tokens, JWTs. */
export {
  Authenticator,
  AccessRole,
  Permission,
  readTokensFile,
  generatedAdminToken,
  bearerToken,
  type AuthConfig,
  type AuthResult,
  type JwtConfig,
  type Principal,
  type StaticToken,
} from './Authenticator.js';
