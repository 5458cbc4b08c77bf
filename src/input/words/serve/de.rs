//! `serve`'s words in German (formal address).

use super::Say::{self, *};

pub(super) fn text(say: Say) -> &'static str {
    match say {
        ProblemTitle => "Etwas stimmt nicht",
        NotFoundTitle => "Diese Seite gibt es nicht",
        NotFound => "Die Adresse ist vielleicht falsch geschrieben, oder die Seite ist umgezogen.",
        IssuesSoFar => "Die bisherigen Ausgaben lesen",
        EmailLabel => "E-Mail-Adresse",
        NameLabel => "Name (freiwillig)",
        LeaveEmpty => "Dieses Feld leer lassen",
        SubscribeButton => "Abonnieren",
        SignupNote => "Wir schicken Ihnen eine E-Mail mit einem Link zur Bestätigung.",
        TopicsLegend => "Was möchten Sie erhalten?",
        SubscribeTitle => "Abonnieren",
        ConfirmTitle => "Abonnement bestätigen",
        ConfirmDetails => {
            "Prüfen Sie Ihre Angaben und drücken Sie dann den Knopf, um {email} anzumelden."
        }
        ConfirmButton => "Bestätigen",
        InboxTitle => "Bitte prüfen Sie Ihr Postfach",
        InboxSent => {
            "Wenn die Adresse stimmt, ist eine E-Mail mit einem Bestätigungslink unterwegs. \
             Öffnen Sie sie und drücken Sie „Bestätigen“, um sich anzumelden."
        }
        InboxNothing => {
            "Nach ein paar Minuten noch nichts da? Sehen Sie im Spam-Ordner nach, \
             oder melden Sie sich noch einmal an."
        }
        SubscribedTitle => "Sie sind angemeldet",
        Subscribed => "{email} erhält die nächste Ausgabe.",
        AlreadyTitle => "Sie sind bereits angemeldet",
        Already => {
            "Dieser Bestätigungslink wurde schon benutzt: Sie stehen auf der Liste, \
             und es ist nichts weiter zu tun."
        }
        StaleTitle => "Dieser Link funktioniert nicht mehr",
        SignUpAgain => "Melden Sie sich unten noch einmal an, um einen neuen Link zu erhalten.",
        UnsubscribeTitle => "Abmelden",
        UnsubscribePress => "Drücken Sie den Knopf, um {name} für {email} abzubestellen.",
        UnsubscribeButton => "Abmelden",
        UnsubscribedTitle => "Sie sind abgemeldet",
        Unsubscribed => "{email} erhält keine E-Mails mehr von {name}.",
        UndoOffer => {
            "Aus Versehen gedrückt? Sie können es innerhalb eines Tages rückgängig machen."
        }
        UndoButton => "Rückgängig: angemeldet bleiben",
        ResubscribedTitle => "Sie sind wieder angemeldet",
        Resubscribed => "{email} erhält die nächste Ausgabe von {name} wie bisher.",
        UndoStaleTitle => "Das lässt sich nicht mehr rückgängig machen",
        UndoStale => {
            "Die Abmeldung ist älter als ein Tag, wurde schon rückgängig gemacht, oder \
             seitdem hat sich etwas geändert. Wenn Sie den Newsletter nicht erhalten und \
             ihn möchten, melden Sie sich unten an."
        }
        ConfirmInvalid => {
            "Dieser Bestätigungslink ist ungültig. Prüfen Sie, ob er vollständig kopiert wurde."
        }
        ConfirmUsed => {
            "Dieser Bestätigungslink wurde schon benutzt, oder die Adresse hat sich seitdem geändert."
        }
        ConfirmExpired => "Dieser Bestätigungslink ist abgelaufen.",
        UnsubscribeInvalid => {
            "Dieser Abmeldelink ist ungültig. Prüfen Sie, ob er vollständig kopiert wurde."
        }
        ListBusy => {
            "Die Liste kann gerade nicht geändert werden. Bitte versuchen Sie es in einer \
             Minute noch einmal."
        }
        TooManySignups => {
            "Zu viele Anmeldungen von Ihrer Adresse. Bitte warten Sie eine Minute und \
             versuchen Sie es dann noch einmal."
        }
        TooManyRequests => {
            "Zu viele Anfragen von Ihrer Adresse. Bitte warten Sie eine Minute und \
             versuchen Sie es dann noch einmal."
        }
        NotAnAddress => "Das ist keine E-Mail-Adresse. Gehen Sie zurück und prüfen Sie sie.",
        SignupsBusy => {
            "Gerade gibt es zu viele Anmeldungen. Bitte versuchen Sie es in einer Minute noch einmal."
        }
        NameTooLong => {
            "Der Name darf höchstens 100 Zeichen lang sein. Gehen Sie zurück und kürzen Sie ihn."
        }
        NameControl => "Der Name darf keine Zeilenumbrüche oder Steuerzeichen enthalten.",
        FormTooBig => "Das Formular ist größer als 64 KB.",
        FormTooSlow => "Das Formular kam zu langsam an.",
        FormUnreadable => "Das Formular konnte nicht gelesen werden.",
        FormKind => {
            "Senden Sie das Formular als application/x-www-form-urlencoded oder multipart/form-data."
        }
        MailSubject => "Bestätigen Sie Ihr Abonnement von {name}",
        MailAsked => "Jemand, hoffentlich Sie, hat für diese Adresse {name} per E-Mail bestellt.",
        MailPress => "Um ihn zu erhalten, drücken Sie den Knopf und dann „Bestätigen“.",
        MailOpen => "Um ihn zu erhalten, öffnen Sie diesen Link und drücken Sie „Bestätigen“:",
        MailButton => "Mein Abonnement bestätigen",
        MailOrOpen => "Oder öffnen Sie diesen Link:",
        MailLasts => {
            "Der Link gilt {lasts}. Wenn Sie das nicht angefordert haben, ignorieren Sie \
             diese E-Mail: Ohne Bestätigung werden Sie nicht angemeldet und erhalten nichts \
             weiter von uns."
        }
        OneMinute => "1 Minute",
        Minutes => "{n} Minuten",
        OneHour => "1 Stunde",
        Hours => "{n} Stunden",
        Days => "{n} Tage",
        WaysLabel => "Mehr",
        WaysSubscribe => "Abonnieren",
        WaysArchive => "Alle bisherigen Ausgaben",
        LangLabel => "Sprache",
        IndexAbout => "Alle bisherigen Ausgaben von {name}.",
        IndexFeed => "Dem Feed folgen",
    }
}
