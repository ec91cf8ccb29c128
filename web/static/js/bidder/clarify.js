// W6: the bidder answers, in writing, a clarification the evaluation panel asked of it
// (POST …/evaluation/clarifications/{id}/answer with the CSRF header). The answer carries no
// price; the server refuses one that says it changes the price or the substance.
import { api, showError } from "../api.js";

const box = document.getElementById("eval-clarifications");
const TID = Number(box.dataset.tender);

for (const form of box.querySelectorAll("form.clar-answer-form")) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const answer = form.elements.answer.value.trim();
    const alert = form.querySelector("[role=alert]");
    showError(alert, null);
    if (!answer) { form.elements.answer.setAttribute("aria-invalid", "true"); form.elements.answer.focus(); return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api(`/api/v1/tenders/${TID}/evaluation/clarifications/${form.dataset.id}/answer`, { json: { answer } });
      location.reload();
    } catch (err) {
      showError(alert, err);
      button.disabled = false;
    }
  });
}
