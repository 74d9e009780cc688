/*
 * openlines site widget: the Russian strings (see strings.en.js, the reference: the same keys).
 */
(window.__openlinesStrings = window.__openlinesStrings || {}).ru = {
  title: "Напишите нам",
  openChat: "Открыть чат",
  closeChat: "Закрыть чат",
  connecting: "Подключаемся…",
  online: "Ответим, как только сможем",
  reconnecting: "Связь прервалась — подключаемся снова…",
  unavailable: "Чат сейчас недоступен",
  empty: "Здравствуйте! Задайте любой вопрос — обычно мы отвечаем за несколько минут.",
  placeholder: "Напишите сообщение…",
  message: "Сообщение",
  send: "Отправить",
  sending: "отправляется…",
  notSent: "Не отправлено",
  retry: "Повторить",
  notDelivered: "Не доставлено",
  earlier: "Более ранние сообщения",
  loading: "Загружаем…",
  newConversation: "Новый диалог",
  lineUnknown: "К сожалению, этот чат недоступен. Свяжитесь с нами другим способом — контакты есть на сайте.",
  fileFailed: "Не удалось открыть файл. Обновите страницу и попробуйте ещё раз.",
  download: "Скачать",
  sizeUnits: ["Б", "КБ", "МБ", "ГБ"],
  error: "Что-то пошло не так",
  errors: {
    message_too_long: "Сообщение слишком длинное",
    empty_message: "Сообщение пустое",
    not_stored: "Сообщение не удалось сохранить",
  },
};
