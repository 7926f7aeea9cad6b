// The web console (docs/HTTP.md §8): the live figures and the key browser, on the public
// API only (/metrics, /v1/kv, /v1/changes). Plain ES modules; nothing to build.

import { startFigures } from './figures.js';
import { KeyBrowser } from './key-browser.js';
import { KeyEditor } from './key-editor.js';

startFigures(document.getElementById('charts'), document.getElementById('figures-status'));

let browser = null;
const editor = new KeyEditor({
  onStored: (key) => browser?.stored(key),
  onDeleted: (key) => browser?.deleted(key),
});
browser = new KeyBrowser(editor);
void browser.start('');
