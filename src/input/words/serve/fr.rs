//! `serve`'s words in French (vouvoiement; a no-break space before `:`,
//! `?` and inside « »).

use super::Say::{self, *};

pub(super) fn text(say: Say) -> &'static str {
    match say {
        ProblemTitle => "Quelque chose ne va pas",
        NotFoundTitle => "Cette page n’existe pas",
        NotFound => "L’adresse est peut-être mal saisie, ou la page a été déplacée.",
        IssuesSoFar => "Lire les numéros précédents",
        EmailLabel => "Adresse e-mail",
        NameLabel => "Nom (facultatif)",
        LeaveEmpty => "Laissez ce champ vide",
        SubscribeButton => "S’abonner",
        SignupNote => "Nous vous enverrons un e-mail avec un lien de confirmation.",
        TopicsLegend => "Que souhaitez-vous recevoir\u{a0}?",
        SubscribeTitle => "S’abonner",
        ConfirmTitle => "Confirmez votre abonnement",
        ConfirmDetails => {
            "Vérifiez vos informations, puis appuyez sur le bouton pour abonner {email}."
        }
        ConfirmButton => "Confirmer",
        InboxTitle => "Consultez votre boîte de réception",
        InboxSent => {
            "Si l’adresse est correcte, un e-mail contenant un lien de confirmation est en \
             route. Ouvrez-le et appuyez sur «\u{a0}Confirmer\u{a0}» pour vous abonner."
        }
        InboxNothing => {
            "Rien après quelques minutes\u{a0}? Regardez dans le dossier des indésirables, \
             ou inscrivez-vous à nouveau."
        }
        SubscribedTitle => "Vous êtes abonné",
        Subscribed => "{email} recevra le prochain numéro.",
        AlreadyTitle => "Vous êtes déjà abonné",
        Already => {
            "Ce lien de confirmation a déjà servi\u{a0}: vous êtes sur la liste, \
             il n’y a rien d’autre à faire."
        }
        StaleTitle => "Ce lien ne fonctionne plus",
        SignUpAgain => "Inscrivez-vous à nouveau ci-dessous pour recevoir un nouveau lien.",
        UnsubscribeTitle => "Se désabonner",
        UnsubscribePress => {
            "Appuyez sur le bouton pour ne plus recevoir {name} à l’adresse {email}."
        }
        UnsubscribeButton => "Se désabonner",
        UnsubscribedTitle => "Vous êtes désabonné",
        Unsubscribed => "{email} ne recevra plus de courrier de {name}.",
        UndoOffer => {
            "Vous avez cliqué par erreur\u{a0}? Vous pouvez annuler dans les 24\u{a0}heures."
        }
        UndoButton => "Annuler\u{a0}: rester abonné",
        ResubscribedTitle => "Vous êtes de nouveau abonné",
        Resubscribed => "{email} recevra le prochain numéro de {name}, comme avant.",
        UndoStaleTitle => "Cette action ne peut plus être annulée",
        UndoStale => {
            "Le désabonnement date de plus d’un jour, a déjà été annulé, ou quelque chose a \
             changé depuis. Si vous ne recevez pas la lettre et la souhaitez, inscrivez-vous \
             ci-dessous."
        }
        ConfirmInvalid => {
            "Ce lien de confirmation n’est pas valide. Vérifiez qu’il a été copié en entier."
        }
        ConfirmUsed => "Ce lien de confirmation a déjà servi, ou l’adresse a changé depuis.",
        ConfirmExpired => "Ce lien de confirmation a expiré.",
        UnsubscribeInvalid => {
            "Ce lien de désabonnement n’est pas valide. Vérifiez qu’il a été copié en entier."
        }
        ListBusy => "La liste ne peut pas être modifiée pour l’instant. Réessayez dans une minute.",
        TooManySignups => {
            "Trop d’inscriptions depuis votre adresse. Attendez une minute et réessayez."
        }
        TooManyRequests => {
            "Trop de demandes depuis votre adresse. Attendez une minute et réessayez."
        }
        NotAnAddress => "Ce n’est pas une adresse e-mail. Revenez en arrière pour la vérifier.",
        SignupsBusy => "Trop d’inscriptions en ce moment. Réessayez dans une minute.",
        NameTooLong => {
            "Le nom ne peut pas dépasser 100 caractères. Revenez en arrière pour le raccourcir."
        }
        NameControl => {
            "Le nom ne peut pas contenir de retour à la ligne ni de caractère de contrôle."
        }
        FormTooBig => "Le formulaire dépasse 64\u{a0}Ko.",
        FormTooSlow => "Le formulaire a mis trop de temps à arriver.",
        FormUnreadable => "Le formulaire n’a pas pu être lu.",
        FormKind => {
            "Envoyez le formulaire en application/x-www-form-urlencoded ou multipart/form-data."
        }
        MailSubject => "Confirmez votre abonnement à {name}",
        MailAsked => {
            "Quelqu’un, vous sans doute, a demandé que cette adresse reçoive {name} par e-mail."
        }
        MailPress => "Pour le recevoir, appuyez sur le bouton, puis sur «\u{a0}Confirmer\u{a0}».",
        MailOpen => {
            "Pour le recevoir, ouvrez ce lien et appuyez sur «\u{a0}Confirmer\u{a0}»\u{a0}:"
        }
        MailButton => "Confirmer mon abonnement",
        MailOrOpen => "Ou ouvrez ce lien\u{a0}:",
        MailLasts => {
            "Le lien est valable {lasts}. Si vous n’avez rien demandé, ignorez ce message\u{a0}: \
             sans confirmation, vous ne serez pas abonné et ne recevrez plus rien de notre part."
        }
        OneMinute => "1\u{a0}minute",
        Minutes => "{n}\u{a0}minutes",
        OneHour => "1\u{a0}heure",
        Hours => "{n}\u{a0}heures",
        Days => "{n}\u{a0}jours",
        WaysLabel => "Plus",
        WaysSubscribe => "S’abonner",
        WaysArchive => "Tous les numéros",
        LangLabel => "Langue",
        IndexAbout => "Tous les numéros de {name} parus à ce jour.",
        IndexFeed => "Suivre le flux",
    }
}
