// The language-model examples' corpora: real English text by domain, from Debian packages
// (scripts/setup-system.sh installs them; licences in examples/data-licences.md). A
// document is a natural unit of its source: a dictionary entry, a group of verses, a
// fortune. Splits are by a hash of the document's text, so they never depend on order or
// on the other documents, and the same text always lands in the same split.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SourceError } from '../sources.ts';

export type Split = 'train' | 'validation' | 'test';

export interface Domain {
  /** The name of the domain's expert (`lm-<name>`) and data file (`<name>.jsonl`). */
  readonly name: string;
  readonly description: string;
  /** The Debian package that ships the text, for messages. */
  readonly debianPackage: string;
  readonly read: () => string[];
}

const DICTD = '/usr/share/dictd';
const FORTUNES = '/usr/share/games/fortunes';
const DICTD_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function requireFile(path: string, debianPackage: string): void {
  if (!existsSync(path)) throw new SourceError(`${path} is missing: install the Debian package ${debianPackage} (bash scripts/setup-system.sh)`);
}

/** One line of prose: runs of white space become one space. */
function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** A dictd offset or length: a number in dictd's base-64 digits. */
function dictdNumber(digits: string): number {
  let value = 0;
  for (const digit of digits) value = value * 64 + DICTD_DIGITS.indexOf(digit);
  return value;
}

/**
 * The entries of a dictd database (`<name>.index` + `<name>.dict.dz`, a gzip file): each
 * entry once (several headwords may point at one), without the `00-database-*` entries
 * that describe the database itself.
 */
function dictdEntries(name: string, debianPackage: string): string[] {
  const index = join(DICTD, `${name}.index`);
  const data = join(DICTD, `${name}.dict.dz`);
  requireFile(index, debianPackage);
  const bytes = gunzipSync(readFileSync(data));
  const seen = new Set<number>();
  const entries: string[] = [];
  for (const line of readFileSync(index, 'utf8').split('\n')) {
    const [headword, offset, length] = line.split('\t');
    if (!headword || !offset || !length || headword.startsWith('00database') || headword.startsWith('00-database')) continue;
    const start = dictdNumber(offset);
    if (seen.has(start)) continue;
    seen.add(start);
    entries.push(bytes.subarray(start, start + dictdNumber(length)).toString('utf8'));
  }
  return entries;
}

/** A dictionary entry as prose: cross-reference braces `{word}` dropped, white space collapsed. */
function entryText(entry: string): string {
  return collapse(entry.replace(/[{}]/g, ''));
}

/** FOLDOC, less the entries it took from the Jargon File (that is the hacker-jargon domain). */
function readFoldoc(): string[] {
  return dictdEntries('foldoc', 'dict-foldoc').filter((e) => !e.includes('{Jargon File}')).map(entryText);
}

function readJargon(): string[] {
  return dictdEntries('jargon', 'dict-jargon').map(entryText);
}

function readDevil(): string[] {
  return dictdEntries('devil', 'dict-devil').map(entryText);
}

/** Verses per scripture document: short verses alone say little about the style. */
const VERSES_PER_DOCUMENT = 4;

/** The King James Bible through `bible` (bible-kjv): its data file is compressed in a format of its own. */
function readBible(): string[] {
  let text: string;
  try {
    text = execFileSync('bible', ['-f', 'Gen1:1-Rev22:21'], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, COLUMNS: '100000' } });
  } catch (error) {
    throw new SourceError(`the King James Bible could not be read with \`bible\` (${(error as Error).message}): install the Debian package bible-kjv (bash scripts/setup-system.sh)`);
  }
  const documents: string[] = [];
  let chapter = '';
  let group: string[] = [];
  const flush = (): void => {
    if (group.length > 0) documents.push(group.join(' '));
    group = [];
  };
  for (const line of text.split('\n')) {
    const verse = /^(\S+?)(\d+):(\d+) (.*)$/.exec(line);
    if (!verse) continue;
    const here = `${verse[1]}${verse[2]}`;
    if (here !== chapter || group.length === VERSES_PER_DOCUMENT) flush();
    chapter = here;
    group.push(collapse(verse[4]!));
  }
  flush();
  return documents;
}

/** Fortune files of the quotations domain: not the pictures, nor those about computers (the computing domains). */
const FORTUNES_LEFT_OUT = new Set(['art', 'ascii-art', 'computers', 'debian', 'linux', 'linuxcookie', 'perl']);

function readFortunes(): string[] {
  requireFile(join(FORTUNES, 'fortunes'), 'fortunes');
  const files = readdirSync(FORTUNES).filter((f) => !f.includes('.') && !FORTUNES_LEFT_OUT.has(f)).sort();
  return files.flatMap((f) => readFileSync(join(FORTUNES, f), 'utf8').split(/^%$/m).map(collapse));
}

export const DOMAINS: readonly Domain[] = [
  { name: 'computing', description: 'The Free On-line Dictionary of Computing (FOLDOC), its own entries', debianPackage: 'dict-foldoc', read: readFoldoc },
  { name: 'jargon', description: 'The Jargon File (hacker slang), entries', debianPackage: 'dict-jargon', read: readJargon },
  { name: 'satire', description: "Ambrose Bierce's The Devil's Dictionary, entries", debianPackage: 'dict-devil', read: readDevil },
  { name: 'scripture', description: `The King James Bible, ${VERSES_PER_DOCUMENT} verses of a chapter a document`, debianPackage: 'bible-kjv', read: readBible },
  { name: 'quotations', description: 'fortune quotations and jokes, not those about computers', debianPackage: 'fortunes', read: readFortunes },
];

/** A document's position in [0, 1), from the hash of its text. */
export function documentHash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

/** 80% train, 10% validation, 10% test, by the document's hash. */
export function splitOf(text: string): Split {
  const h = documentHash(text);
  return h < 0.8 ? 'train' : h < 0.9 ? 'validation' : 'test';
}

/** The shortest document kept: shorter ones (a headword with "See foo") carry too little text. */
const MIN_DOCUMENT_CHARACTERS = 40;

export interface Corpus {
  readonly domain: Domain;
  /** Documents by split, each in hash order (so any prefix is a uniform sample). */
  readonly splits: Readonly<Record<Split, readonly string[]>>;
}

/** A domain's documents, deduplicated, split and ordered by their hash. */
export function loadCorpus(domain: Domain): Corpus {
  const unique = [...new Set(domain.read().filter((d) => d.length >= MIN_DOCUMENT_CHARACTERS))];
  const ordered = unique.map((text) => ({ text, hash: documentHash(text) })).sort((a, b) => a.hash - b.hash);
  const splits: Record<Split, string[]> = { train: [], validation: [], test: [] };
  for (const { text } of ordered) splits[splitOf(text)].push(text);
  return { domain, splits };
}

/** The first documents of `documents` up to `characters` in all (at least one). */
export function takeCharacters(documents: readonly string[], characters: number): string[] {
  const out: string[] = [];
  let total = 0;
  for (const d of documents) {
    if (out.length > 0 && total + d.length > characters) break;
    out.push(d);
    total += d.length;
  }
  return out;
}
