// The web console (docs/HTTP.md §8): the live figures and the key browser, on the public
// API only (/metrics, /v1/kv, /v1/changes), every call through api.js, signed in when the
// server asks for a user. Plain ES modules; nothing to build.

import { onSignInChange } from './api.js';
import { startFigures } from './figures.js';
import { KeyBrowser } from './key-browser.js';
import { KeyEditor } from './key-editor.js';
import { startSignIn } from './sign-in.js';

startSignIn();

startFigures(document.getElementById('charts'), document.getElementById('figures-status'));

let browser = null;
const editor = new KeyEditor({
  onStored: (key) => browser?.stored(key),
  onDeleted: (key) => browser?.deleted(key),
});
browser = new KeyBrowser(editor);
void browser.start('');
// Signed in: the keys are listed (and watched) again with the user's token. The figures wait for it themselves.
onSignInChange((state) => {
  if (state.signedIn) void browser.start(browser.prefix);
});
