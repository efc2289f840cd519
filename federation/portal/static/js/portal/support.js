// The support services box: narrow the list to the country the person chooses.
// Filtering happens in the page only; the choice is never sent anywhere.

for (const box of document.querySelectorAll(".support")) {
  const select = box.querySelector(".support-country");
  if (!select) continue;
  const services = [...box.querySelectorAll(".support-service")];
  const none = box.querySelector(".support-none-country");
  select.addEventListener("change", () => {
    const country = select.value;
    const serves = (item) => !country || item.dataset.countries === "" || item.dataset.countries.split(" ").includes(country);
    const matching = services.filter(serves);
    // A country no service names: say so, and keep showing the ones for the language.
    none.hidden = !country || matching.length > 0;
    for (const item of services) item.hidden = matching.length > 0 && !serves(item);
  });
}
