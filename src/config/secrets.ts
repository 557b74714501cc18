import { X509Certificate, createPrivateKey, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FlowkeeperError } from '../errors.js';

/** Reads a PEM file named by an option; a missing or unreadable file fails at start, naming the option. */
export function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${option}: cannot read ${path}: ${(err as Error).message}`, option);
  }
}

/** Reads a PEM and checks it holds what the option needs, so a wrong file fails at start, naming the option. */
export function readChecked(path: string, option: string, kind: 'certificate' | 'key'): Buffer {
  const pem = readPem(path, option);
  try {
    if (kind === 'key') createPrivateKey(pem);
    else if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    else new X509Certificate(pem);
  } catch (err) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${option}: ${path} is not a PEM ${kind === 'key' ? 'private key' : 'certificate'} (${(err as Error).message})`, option);
  }
  return pem;
}

/** Compares a presented token with the configured one in constant time. */
export function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
